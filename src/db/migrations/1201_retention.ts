import { sql, type Kysely } from 'kysely';

/**
 * Retention (issue 16): the job that removes the message log past MAILERDASH_RETENTION_DAYS.
 * - job_leases: one row per single-claimer job; whoever holds an unexpired lease runs it, and the
 *   lease's end is also when it runs next.
 * - messages_content: whether a content is still used (by a message in flight, or by any message
 *   at all) is a probe of this index, not a walk of the messages.
 * - message_contents_unstripped: the contents whose bodies are still there, oldest first; content
 *   retention strips them and they leave the index.
 * - Every other table is walked by an index it already has (messages by key and created_at, events
 *   and webhook deliveries by their identity, inbound reports by status and received_at).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table job_leases (
      name text primary key,
      holder text not null,
      lease_until timestamptz not null
    )`.execute(db);
  await sql`alter table message_contents add column body_removed_at timestamptz`.execute(db);
  await sql`create index message_contents_unstripped on message_contents (created_at) where body_removed_at is null`.execute(db);
  await sql`create index messages_content on messages (content_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index messages_content`.execute(db);
  await sql`drop index message_contents_unstripped`.execute(db);
  await sql`alter table message_contents drop column body_removed_at`.execute(db);
  await sql`drop table job_leases`.execute(db);
}
