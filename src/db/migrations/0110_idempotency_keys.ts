import { sql, type Kysely } from 'kysely';

/** Idempotency-Key records, per API key: who claimed a key, for which payload, and the stored response. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table idempotency_keys (
      key_id text not null references api_keys(id),
      idem_key text not null,
      request_hash text not null,
      claim_token text not null,
      state text not null check (state in ('running', 'done')),
      locked_until timestamptz not null,
      response_status integer,
      response_headers jsonb,
      response_body jsonb,
      created_at timestamptz not null default now(),
      primary key (key_id, idem_key)
    )`.execute(db);
  await sql`create index idempotency_keys_created on idempotency_keys (created_at)`.execute(db);
}
