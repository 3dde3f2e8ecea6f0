import { sql, type Kysely } from 'kysely';

/**
 * Whether a content is still used by a message in flight (content retention keeps its bodies) is a
 * probe of this small index: only messages queued, being sent or deferred are in it. Through
 * messages_content the probe walked every message of a content that millions share (one campaign),
 * and the planner preferred a sequential scan of messages.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index messages_content_in_flight on messages (content_id) where status in ('queued', 'sending', 'deferred')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index messages_content_in_flight`.execute(db);
}
