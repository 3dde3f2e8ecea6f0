import { sql, type Kysely } from 'kysely';

/**
 * Every message is written three times (accepted or dispatched, claimed, finished) and gets an event
 * row per step, so each per-row trigger and index entry is paid many times over.
 * - Foreign keys: a message's (and its content's) key and content, and an event's message, are written by the same
 *   statement or transaction that created them; keys are revoked, never deleted, and nothing deletes
 *   messages or contents. Their per-row triggers (each locking the referenced row) cost about a
 *   quarter of the accept, dispatch and outcome statements, and guarded nothing.
 * - Only API requests have a request_id: campaign, sequence and batch messages stay out of its index.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table message_contents drop constraint if exists message_contents_key_id_fkey`.execute(db);
  await sql`alter table messages drop constraint if exists messages_key_id_fkey`.execute(db);
  await sql`alter table messages drop constraint if exists messages_content_id_fkey`.execute(db);
  await sql`alter table message_events drop constraint if exists message_events_message_id_fkey`.execute(db);
  await sql`drop index if exists messages_request`.execute(db);
  await sql`create index messages_request on messages (request_id) where request_id is not null`.execute(db);
}
