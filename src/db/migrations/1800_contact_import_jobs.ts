import { sql, type Kysely } from 'kysely';

/**
 * Import jobs (POST /v1/bulk/contacts/import?async=true): the job row, claimed by any worker with a
 * lease, and the uploaded body in chunks beside it, so any worker on any machine can read it again
 * after a crash. The chunks are deleted once the job has ended.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table contact_imports (
      id text primary key,
      key_id text not null references api_keys(id),
      -- receiving: the body is still being stored (not yet answered, never shown).
      status text not null check (status in ('receiving', 'queued', 'running', 'completed', 'failed')),
      content_type text not null,
      bytes bigint not null default 0,
      rows_total integer not null default 0,
      rows_read integer not null default 0,
      created integer not null default 0,
      updated integer not null default 0,
      failed integer not null default 0,
      attempts integer not null default 0,
      result jsonb,
      error jsonb,
      due_at timestamptz,
      lease_owner text,
      lease_until timestamptz,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index contact_imports_due on contact_imports (due_at) where status in ('queued', 'running')`.execute(db);
  await sql`create index contact_imports_receiving on contact_imports (created_at) where status = 'receiving'`.execute(db);
  await sql`
    create table contact_import_chunks (
      import_id text not null references contact_imports(id) on delete cascade,
      key_id text not null references api_keys(id),
      seq integer not null,
      data bytea not null,
      primary key (import_id, seq)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table contact_import_chunks`.execute(db);
  await sql`drop table contact_imports`.execute(db);
}
