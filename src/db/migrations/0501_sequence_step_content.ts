import { sql, type Kysely } from 'kysely';

/**
 * The sequence scheduler (issue 11, part 2).
 *
 * - `sequence_steps.content_id`: the message_contents row made for the step as it now stands, shared by
 *   every message of that step; `content_stamp` the template's updated_at it was made from (null
 *   without a template). A step PATCH clears both; a template edit since the stamp makes a new one.
 * - `sequence_subscribers_due_by_sequence`: the scheduler claims per active sequence, so due
 *   subscribers of a draft or archived sequence at the head of the due index cost nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table sequence_steps add column content_id text references message_contents(id), add column content_stamp timestamptz`.execute(db);
  await sql`
    create index sequence_subscribers_due_by_sequence on sequence_subscribers (sequence_id, next_due_at)
    where status = 'active' and next_due_at is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index sequence_subscribers_due_by_sequence`.execute(db);
  await sql`alter table sequence_steps drop column content_id, drop column content_stamp`.execute(db);
}
