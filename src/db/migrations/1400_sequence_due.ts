import { sql, type Kysely } from 'kysely';

/**
 * The scheduler's due state in a narrow table of its own (issue 11, throughput): one row per active
 * subscriber whose next step has a due time. A step used to rewrite the wide subscriber row twice
 * (made: off the due index; sent: its next due time), each time with a new entry in all of its
 * indexes, because `next_due_at` was indexed. Now no index of sequence_subscribers names a column a
 * step changes, so both updates are HOT (room for them is left on each page: fillfactor), and the
 * due index lives on rows of three columns, deleted when claimed and inserted when timed.
 *
 * `sequence_subscribers.next_due_at` stays what the API shows (and what a paused subscriber keeps);
 * a sequence_due row exists exactly while the subscriber is active with a next_due_at.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table sequence_due (
      subscriber_id text primary key,
      sequence_id text not null,
      due_at timestamptz not null
    )`.execute(db);
  await sql`create index sequence_due_by_sequence on sequence_due (sequence_id, due_at)`.execute(db);
  await sql`
    insert into sequence_due (subscriber_id, sequence_id, due_at)
    select id, sequence_id, next_due_at from sequence_subscribers where status = 'active' and next_due_at is not null`.execute(db);
  await sql`drop index if exists sequence_subscribers_due_by_sequence`.execute(db);
  // New pages keep room for the two HOT updates of a step (existing pages get it as they are rewritten).
  await sql`alter table sequence_subscribers set (fillfactor = 70)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table sequence_subscribers reset (fillfactor)`.execute(db);
  await sql`
    create index sequence_subscribers_due_by_sequence on sequence_subscribers (sequence_id, next_due_at)
    where status = 'active' and next_due_at is not null`.execute(db);
  await sql`drop table sequence_due`.execute(db);
}
