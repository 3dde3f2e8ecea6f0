import { sql, type Kysely } from 'kysely';

/**
 * A message's `queued` event is the row's created_at: the message log derives it for every message
 * (campaign messages never had one stored), and accepting writes one row less per recipient.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`delete from message_events where type = 'queued'`.execute(db);
}
