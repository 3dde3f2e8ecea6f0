import type { ColumnType } from 'kysely';

export interface IdempotencyKeysTable {
  key_id: string;
  idem_key: string;
  /** SHA-256 of the canonical request (operation + payload). */
  request_hash: string;
  /** Which claim owns the record; completing needs the same token. */
  claim_token: string;
  state: 'running' | 'done';
  /** A running claim past this time belongs to a request that died: it may be taken over. */
  locked_until: ColumnType<Date, Date | string, Date | string>;
  response_status: number | null;
  response_headers: ColumnType<Record<string, string> | null, string | null, string | null>;
  response_body: ColumnType<unknown, string | null, string | null>;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface IdempotencyTables {
  idempotency_keys: IdempotencyKeysTable;
}

