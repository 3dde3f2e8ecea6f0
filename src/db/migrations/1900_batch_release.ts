import { sql, type Kysely } from 'kysely';

/**
 * Batch messages are made by the worker, in slices, from the accepted recipients (the batch slice
 * dispatcher), no longer all by the acceptance transaction: `release_after` is the last recipient
 * position made into a message, and `releasing` says some are still to be made.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table batches add column release_after integer not null default -1`.execute(db);
  await sql`alter table batches add column releasing boolean not null default false`.execute(db);
  await sql`alter table batches add column custom_args jsonb`.execute(db);
  await sql`create index batches_releasing on batches (updated_at) where releasing`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index batches_releasing`.execute(db);
  await sql`alter table batches drop column custom_args`.execute(db);
  await sql`alter table batches drop column releasing`.execute(db);
  await sql`alter table batches drop column release_after`.execute(db);
}
