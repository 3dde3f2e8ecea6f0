import type { Generated } from 'kysely';

export interface ApiKeysTable {
  id: string;
  name: string;
  secret_hash: string;
  admin: Generated<boolean>;
  created_at: Generated<Date>;
  revoked_at: Date | null;
}

export interface KeysTables {
  api_keys: ApiKeysTable;
}
