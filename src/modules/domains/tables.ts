import type { Generated, JSONColumnType } from 'kysely';

export interface DomainsTable {
  key_id: string;
  domain: string;
  dkim_selector: string;
  dkim_private_key: string;
  dkim_public_key: string;
  verified_at: Date | null;
  verified_by: 'dns' | 'operator' | null;
  last_check: JSONColumnType<unknown[] | null, string | null, string | null>;
  created_at: Generated<Date>;
}

export interface DomainsTables {
  domains: DomainsTable;
}
