import { sql, type Kysely } from 'kysely';

/**
 * The scheduler claims per sequence (sequence_subscribers_due_by_sequence, migration 0501); the global
 * due index of 0500 served no query any more, and every step outcome wrote an entry to it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists sequence_subscribers_due`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index sequence_subscribers_due on sequence_subscribers (next_due_at) where status = 'active' and next_due_at is not null`.execute(db);
}
