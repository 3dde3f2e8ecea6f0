import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table api_keys (
      id text primary key,
      name text not null,
      secret_hash text not null unique,
      admin boolean not null default false,
      created_at timestamptz not null default now(),
      revoked_at timestamptz
    )`.execute(db);
  await sql`
    create table domains (
      key_id text not null references api_keys(id),
      domain text not null,
      dkim_selector text not null,
      dkim_private_key text not null,
      dkim_public_key text not null,
      verified_at timestamptz,
      verified_by text check (verified_by in ('dns', 'operator')),
      last_check jsonb,
      created_at timestamptz not null default now(),
      primary key (key_id, domain)
    )`.execute(db);
  await sql`create table settings (name text primary key, value text not null)`.execute(db);
}
