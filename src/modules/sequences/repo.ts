import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { emitEvents } from '../events/outbox.ts';
import type { CancelReason, SequenceStepsTable, SequenceSubscribersTable, SequencesTable, SequenceStatus, SubscriberStatus } from './tables.ts';

/** Every SQL statement of sequences, their steps and their subscribers. */

export type SequenceRow = Selectable<SequencesTable>;
/** A step as the API shows it (without the scheduler's content cache). */
export type StepRow = Omit<Selectable<SequenceStepsTable>, 'content_id' | 'content_stamp'>;
export type SubscriberRow = Selectable<SequenceSubscribersTable>;

const SEQUENCE_COLUMNS = ['id', 'key_id', 'name', 'status', 'created_at', 'updated_at'] as const;
const STEP_COLUMNS = [
  'id',
  'sequence_id',
  'key_id',
  'position',
  'offset_seconds',
  'subject',
  'html',
  'body_text',
  'from_email',
  'from_name',
  'reply_to',
  'template_id',
  'tracking',
  'created_at',
  'updated_at',
] as const;
export const SUBSCRIBER_COLUMNS = [
  'id',
  'key_id',
  'sequence_id',
  'contact_id',
  'email',
  'status',
  'cancel_reason',
  'variables',
  'started_at',
  'current_position',
  'next_due_at',
  'lease_until',
  'paused_at',
  'completed_at',
  'cancelled_at',
  'created_at',
  'updated_at',
] as const;
const LIVE: SubscriberStatus[] = ['active', 'paused'];

// ---- sequences ------------------------------------------------------------------------------

export async function insertSequence(db: Kysely<DB>, row: { id: string; key_id: string; name: string }): Promise<SequenceRow> {
  return db.insertInto('sequences').values(row).returning(SEQUENCE_COLUMNS).executeTakeFirstOrThrow();
}

/** The key's sequence (another key's is not found); `lock` holds it for the caller's transaction. */
export async function findSequence(db: Kysely<DB>, keyId: string, id: string, lock?: 'update' | 'share'): Promise<SequenceRow | undefined> {
  let query = db.selectFrom('sequences').select(SEQUENCE_COLUMNS).where('key_id', '=', keyId).where('id', '=', id);
  if (lock === 'update') query = query.forUpdate();
  if (lock === 'share') query = query.forShare();
  return query.executeTakeFirst();
}

export async function listSequences(
  db: Kysely<DB>,
  filter: { keyId: string | null; status?: SequenceStatus | undefined; limit: number; offset: number },
): Promise<{ rows: SequenceRow[]; total: number }> {
  let query = db.selectFrom('sequences');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  if (filter.status) query = query.where('status', '=', filter.status);
  const [rows, count] = await Promise.all([
    query.select(SEQUENCE_COLUMNS).orderBy('created_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function updateSequence(db: Kysely<DB>, id: string, changes: Updateable<SequencesTable>, now: Date): Promise<SequenceRow> {
  return db.updateTable('sequences').set({ ...changes, updated_at: now }).where('id', '=', id).returning(SEQUENCE_COLUMNS).executeTakeFirstOrThrow();
}

export async function deleteSequence(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom('sequence_due').where('sequence_id', '=', id).execute();
  await db.deleteFrom('sequences').where('id', '=', id).execute();
}

/** Subscriber counts per sequence and status. */
export async function subscriberCounts(db: Kysely<DB>, sequenceIds: string[]): Promise<{ sequence_id: string; status: SubscriberStatus; n: number }[]> {
  if (!sequenceIds.length) return [];
  const rows = await db
    .selectFrom('sequence_subscribers')
    .select(['sequence_id', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('sequence_id', 'in', sequenceIds)
    .groupBy(['sequence_id', 'status'])
    .execute();
  return rows.map((r) => ({ sequence_id: r.sequence_id, status: r.status, n: Number(r.n) }));
}

export async function hasLiveSubscribers(db: Kysely<DB>, sequenceId: string): Promise<boolean> {
  return !!(await db.selectFrom('sequence_subscribers').select('id').where('sequence_id', '=', sequenceId).where('status', 'in', LIVE).limit(1).executeTakeFirst());
}

// ---- steps ----------------------------------------------------------------------------------

export type NewStep = Omit<StepRow, 'created_at' | 'updated_at'>;
export type StepChanges = Partial<Omit<NewStep, 'id' | 'sequence_id' | 'key_id' | 'position'>>;

export async function listSteps(db: Kysely<DB>, sequenceId: string): Promise<StepRow[]> {
  return db.selectFrom('sequence_steps').select(STEP_COLUMNS).where('sequence_id', '=', sequenceId).orderBy('position').execute();
}

export async function findStep(db: Kysely<DB>, sequenceId: string, stepId: string): Promise<StepRow | undefined> {
  return db.selectFrom('sequence_steps').select(STEP_COLUMNS).where('sequence_id', '=', sequenceId).where('id', '=', stepId).executeTakeFirst();
}

/** Inserts the step; undefined when its position is taken in the sequence. */
export async function insertStep(db: Kysely<DB>, row: NewStep): Promise<StepRow | undefined> {
  return db
    .insertInto('sequence_steps')
    .values(row)
    .onConflict((oc) => oc.columns(['sequence_id', 'position']).doNothing())
    .returning(STEP_COLUMNS)
    .executeTakeFirst();
}

export async function updateStep(db: Kysely<DB>, stepId: string, changes: StepChanges, now: Date): Promise<StepRow> {
  // Any change makes the scheduler build the step's content anew (content_id is its cache).
  return db.updateTable('sequence_steps').set({ ...changes, content_id: null, content_stamp: null, updated_at: now }).where('id', '=', stepId).returning(STEP_COLUMNS).executeTakeFirstOrThrow();
}

export async function deleteStep(db: Kysely<DB>, stepId: string): Promise<void> {
  await db.deleteFrom('sequence_steps').where('id', '=', stepId).execute();
}

export async function templateSubject(db: Kysely<DB>, keyId: string, templateId: string): Promise<string | undefined> {
  return (await db.selectFrom('templates').select('subject').where('key_id', '=', keyId).where('id', '=', templateId).executeTakeFirst())?.subject;
}

/**
 * After a step was added, deleted or re-timed: every live subscriber whose wait is counted from a
 * known base (started_at before any step was sent, else the send time of its last step) gets the
 * due time of its next step, or null when none is left. Subscribers whose last step has no send
 * time yet (in flight, or failed) are left to the scheduler. Paused ones are re-timed too: resume
 * re-bases whatever stands here. The caller holds the sequence row locked (FOR UPDATE), so a
 * scheduler that reads a step's offset under FOR SHARE of it never races this.
 */
export async function rescheduleSubscribers(db: Kysely<DB>, sequenceId: string, now: Date): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    with plan as (
      select s.id, s.current_position,
        case when s.current_position = 0 then s.started_at
             else (select max(m.sent_at) from messages m
                   where m.sequence_subscriber_id = s.id and m.sequence_step_position = s.current_position and m.sent_at is not null)
        end as base,
        (select st.offset_seconds from sequence_steps st
         where st.sequence_id = s.sequence_id and st.position > s.current_position order by st.position limit 1) as next_offset
      from sequence_subscribers s
      where s.sequence_id = ${sequenceId} and s.status in ('active', 'paused')
    ), moved as (
    update sequence_subscribers s
    set next_due_at = case when p.next_offset is null then null else p.base + p.next_offset * interval '1 second' end, updated_at = ${now}
    from plan p
    where s.id = p.id and p.base is not null
      -- Re-checked on the row as it stands once its lock is had: a subscriber the scheduler advanced
      -- meanwhile (plan computed for its previous position) is left to the scheduler.
      and s.current_position = p.current_position and s.status in ('active', 'paused')
      and s.next_due_at is distinct from (case when p.next_offset is null then null else p.base + p.next_offset * interval '1 second' end)
    returning s.id, s.sequence_id, s.status, s.next_due_at
    ), undue as (
      delete from sequence_due d using moved m where d.subscriber_id = m.id and (m.status <> 'active' or m.next_due_at is null)
    ), due as (
      insert into sequence_due (subscriber_id, sequence_id, due_at)
      select id, sequence_id, next_due_at from moved where status = 'active' and next_due_at is not null
      on conflict (subscriber_id) do update set due_at = excluded.due_at
    )
    select count(*)::int as n from moved`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Makes the sequence_due rows of these subscribers match them as they stand: one at next_due_at
 * while active with a next_due_at, none otherwise. The caller holds the subscribers' row locks
 * (it just wrote them), so the step outcome, which locks the subscriber first too, never races it.
 */
export async function syncDue(db: Kysely<DB>, ids: string[]): Promise<void> {
  if (!ids.length) return;
  // The delete and the upsert touch disjoint rows (one statement must not change a row twice).
  await sql`
    with s as (
      select id, sequence_id, next_due_at from sequence_subscribers
      where id = any (${ids}::text[]) and status = 'active' and next_due_at is not null
    ), gone as (
      delete from sequence_due d where d.subscriber_id = any (${ids}::text[]) and not exists (select 1 from s where s.id = d.subscriber_id)
    )
    insert into sequence_due (subscriber_id, sequence_id, due_at)
    select id, sequence_id, next_due_at from s
    on conflict (subscriber_id) do update set due_at = excluded.due_at`.execute(db);
}

// ---- subscribers ----------------------------------------------------------------------------

export type NewSubscriber = Omit<SubscriberRow, 'variables' | 'created_at' | 'updated_at' | 'lease_until' | 'completed_at'> & { variables: Record<string, unknown> };

/** The subscription of an address to a sequence: the live one if any, else the latest. */
export async function findSubscriber(db: Kysely<DB>, sequenceId: string, email: string, forUpdate = false): Promise<SubscriberRow | undefined> {
  let query = db
    .selectFrom('sequence_subscribers')
    .select(SUBSCRIBER_COLUMNS)
    .where('sequence_id', '=', sequenceId)
    .where('email', '=', email.toLowerCase())
    .orderBy(sql`status in ('active', 'paused')`, 'desc')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1);
  if (forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** Inserts the subscription; undefined when the contact already has a live one (a race lost). */
export async function insertSubscriber(db: Kysely<DB>, row: NewSubscriber, now: Date): Promise<SubscriberRow | undefined> {
  const inserted = await db
    .insertInto('sequence_subscribers')
    .values({ ...row, variables: JSON.stringify(row.variables), created_at: now, updated_at: now })
    .onConflict((oc) => oc.columns(['sequence_id', 'contact_id']).where('status', 'in', LIVE).doNothing())
    .returning(SUBSCRIBER_COLUMNS)
    .executeTakeFirst();
  if (inserted?.status === 'active' && inserted.next_due_at) {
    await db.insertInto('sequence_due').values({ subscriber_id: inserted.id, sequence_id: inserted.sequence_id, due_at: inserted.next_due_at }).execute();
  }
  return inserted;
}

export async function listSubscribers(
  db: Kysely<DB>,
  filter: { sequenceId: string; status?: SubscriberStatus | undefined; limit: number; offset: number },
): Promise<{ rows: SubscriberRow[]; total: number }> {
  let query = db.selectFrom('sequence_subscribers').where('sequence_id', '=', filter.sequenceId);
  if (filter.status) query = query.where('status', '=', filter.status);
  const [rows, count] = await Promise.all([
    query.select(SUBSCRIBER_COLUMNS).orderBy('created_at').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** Updates one subscriber; a change of its status or next_due_at moves its sequence_due row with it. */
export async function updateSubscriber(db: Kysely<DB>, id: string, changes: Updateable<SequenceSubscribersTable>, now: Date): Promise<SubscriberRow> {
  const row = await db.updateTable('sequence_subscribers').set({ ...changes, updated_at: now }).where('id', '=', id).returning(SUBSCRIBER_COLUMNS).executeTakeFirstOrThrow();
  if ('status' in changes || 'next_due_at' in changes) await syncDue(db, [id]);
  return row;
}

/** The messages made for a subscription, one per step sent, in step order. */
export async function sentSteps(db: Kysely<DB>, subscriberId: string) {
  return db
    .selectFrom('messages')
    .select(['id', 'sequence_step_position', 'status', 'sent_at', 'last_response', 'created_at'])
    .where('sequence_subscriber_id', '=', subscriberId)
    .orderBy('sequence_step_position')
    .orderBy('created_at')
    .execute();
}

/** The `data` every sequence.* event carries. */
export function subscriberEventData(row: Pick<SubscriberRow, 'id' | 'sequence_id' | 'key_id' | 'email' | 'contact_id'>) {
  return { sequence_id: row.sequence_id, subscriber_id: row.id, key_id: row.key_id, email: row.email, contact_id: Number(row.contact_id) };
}

type CancelTarget = { keyId: string; email: string } | { keyId: string; subscriberId: string };

/** Cancels the live subscriptions of `target` with `reason` and writes sequence.cancelled for each, in `trx`. */
async function cancelLive(trx: Kysely<DB>, target: CancelTarget, reason: CancelReason, now: Date): Promise<SubscriberRow[]> {
  let query = trx
    .updateTable('sequence_subscribers')
    .set({ status: 'cancelled', cancel_reason: reason, cancelled_at: now, next_due_at: null, lease_until: null, updated_at: now })
    .where('key_id', '=', target.keyId)
    .where('status', 'in', LIVE);
  query = 'email' in target ? query.where('email', '=', target.email.toLowerCase()) : query.where('id', '=', target.subscriberId);
  const rows = await query.returning(SUBSCRIBER_COLUMNS).execute();
  if (rows.length) await trx.deleteFrom('sequence_due').where('subscriber_id', 'in', rows.map((r) => r.id)).execute();
  await emitEvents(
    trx,
    rows.map((row) => ({ keyId: row.key_id, type: 'sequence.cancelled' as const, data: { ...subscriberEventData(row), reason } })),
    now,
  );
  return rows;
}

const inTransaction = <T>(db: Kysely<DB>, run: (trx: Kysely<DB>) => Promise<T>): Promise<T> => (db.isTransaction ? run(db) : db.transaction().execute(run));

/**
 * Cancels every live (active or paused) subscription of an address of the key, in every sequence,
 * with `reason`, and writes one sequence.cancelled event for each, in the caller's transaction (or
 * its own). For the paths that change an address's standing: contact status, suppressions, a bounce.
 */
export function cancelSubscriptionsOf(db: Kysely<DB>, keyId: string, email: string, reason: CancelReason, now: Date): Promise<SubscriberRow[]> {
  return inTransaction(db, (trx) => cancelLive(trx, { keyId, email }, reason, now));
}

/** Cancels one subscription if it is live (with its sequence.cancelled event); undefined when it was not. */
export async function cancelSubscription(db: Kysely<DB>, keyId: string, subscriberId: string, reason: CancelReason, now: Date): Promise<SubscriberRow | undefined> {
  return (await inTransaction(db, (trx) => cancelLive(trx, { keyId, subscriberId }, reason, now)))[0];
}
