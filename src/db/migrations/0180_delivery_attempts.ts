import { sql, type Kysely } from 'kysely';

/**
 * first_attempt_at: the retry schedule gives up 24 h after it (send_at may be far after created_at).
 * messages_lease: finds the messages of a dead worker (lapsed leases) without walking the due queue.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table messages add column first_attempt_at timestamptz`.execute(db);
  await sql`create index messages_lease on messages (lane, lease_until) where status = 'sending'`.execute(db);
}
