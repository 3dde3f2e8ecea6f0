import { sql, type Kysely } from 'kysely';

/**
 * A message's `queued` and `sent` events are its row's created_at and sent_at (with last_response):
 * the message log derives them for every message (campaign messages never had a queued one stored),
 * and the pipeline writes one event row less at accept and one less per message sent.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`delete from message_events where type in ('queued', 'sent')`.execute(db);
}
