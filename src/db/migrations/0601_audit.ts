import { sql, type Kysely } from 'kysely';

/** The audit log: who (the key) did what to which object, when, with a summary; written in the change's transaction. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table audit_log (
      id bigserial primary key,
      key_id text not null,
      action text not null,
      object_type text not null,
      object_id text not null,
      summary jsonb not null default '{}',
      at timestamptz not null
    )`.execute(db);
  await sql`create index audit_log_key on audit_log (key_id, id desc)`.execute(db);
}
