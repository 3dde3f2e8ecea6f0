import { sql, type Kysely } from 'kysely';

/**
 * Retention at full pace (issue 16).
 * - retention_cursors: where each key's walk of its old messages stopped, so the next round starts
 *   there instead of walking again over the index entries earlier rounds deleted (dead until vacuum).
 *   Written in the transaction of the delete, so any worker resumes it and a crash loses nothing.
 * - batch_recipient_keys_created: the per-recipient idempotency keys past their 24 h window are
 *   pruned oldest first.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table retention_cursors (
      key_id text primary key references api_keys(id) on delete cascade,
      messages_from timestamptz not null
    )`.execute(db);
  await sql`create index batch_recipient_keys_created on batch_recipient_keys (created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index batch_recipient_keys_created`.execute(db);
  await sql`drop table retention_cursors`.execute(db);
}
