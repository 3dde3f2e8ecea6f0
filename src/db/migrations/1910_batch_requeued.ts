import { sql, type Kysely } from 'kysely';

/**
 * A batch's counts come from its aggregates (stat_counts), which only ever add. Retry-failed queues
 * finally failed messages again; `requeued` is how many failures it took back, so the batch's failed
 * count (and whether it is final) stays right without counting its messages.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table batches add column requeued integer not null default 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table batches drop column requeued`.execute(db);
}
