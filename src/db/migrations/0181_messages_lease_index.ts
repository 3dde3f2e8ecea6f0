import { sql, type Kysely } from 'kysely';

/** Finds the messages of a dead worker (lapsed leases) without walking the due queue. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index messages_lease on messages (lane, lease_until) where status = 'sending'`.execute(db);
}
