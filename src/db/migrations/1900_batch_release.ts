import { sql, type Kysely } from 'kysely';

/**
 * Batch messages are made by the worker, in slices, from the accepted recipients (the batch slice
 * dispatcher), no longer all by the acceptance transaction. A batch with recipients still to make
 * has a release row: its cursor (`release_after`, the last recipient position made into a message),
 * claimed apart from the batch row, which the batch monitor locks every round.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table batches add column custom_args jsonb`.execute(db);
  await sql`
    create table batch_releases (
      batch_id text primary key references batches(id) on delete cascade,
      key_id text not null references api_keys(id),
      release_after integer not null default -1,
      updated_at timestamptz not null
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table batch_releases`.execute(db);
  await sql`alter table batches drop column custom_args`.execute(db);
}
