import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { newId } from '../../lib/ids.ts';
import type { Personalization } from '../../delivery/compose.ts';
import { emitEvents } from '../events/outbox.ts';
import { countInto } from '../stats/counting.ts';
import { subscriberEventData, syncDue } from './repo.ts';
import { PREPARED } from '../../db/prepared.ts';
import { claimedFromJson, type ClaimedMessage } from '../../delivery/queue-repo.ts';
import type { SequenceStepsTable } from './tables.ts';

/**
 * The SQL of the sequence scheduler (src/workers/sequence-scheduler.ts). Every function runs in the
 * caller's transaction: the claim's locks, the messages and the subscribers' advance commit together.
 */

/**
 * Locks, FOR SHARE, the active sequences that have a due subscriber. The API's step and status
 * changes hold the row FOR UPDATE: a sequence being changed right now is skipped this round (SKIP
 * LOCKED), and while we hold the share lock nobody can change its steps or status, so the steps we
 * read are the ones the message is made from. Locking the sequence before its subscribers is the
 * API's order too (sequence FOR UPDATE, then its subscribers), so the two never deadlock. Cost: one
 * probe of `sequence_due_by_sequence` per active sequence, whatever waits on later steps.
 */
export async function lockDueSequences(db: Kysely<DB>, now: Date): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select q.id from sequences q
    where q.status = 'active'
      and exists (select 1 from sequence_due d where d.sequence_id = q.id and d.due_at <= ${now})
    order by q.id
    for share of q skip locked`.execute(db);
  return rows.map((r) => r.id);
}

export interface DueSubscriber {
  id: string;
  key_id: string;
  sequence_id: string;
  contact_id: number;
  email: string;
  variables: Record<string, unknown>;
  current_position: number;
  /** The contact, null when it was deleted. */
  contact_email: string | null;
  contact_name: string | null;
  contact_metadata: Record<string, unknown> | null;
}

/**
 * Claims up to `limit` due subscribers of the locked sequences: their sequence_due rows, then the
 * subscriber rows themselves, both FOR UPDATE SKIP LOCKED and held until the caller's transaction
 * ends, and deletes the claimed subscribers' due rows (gone with the claim: made, completed or
 * cancelled alike), in one statement per sequence. The row locks are the whole claim: the message is
 * made and the subscriber advanced before they are let go, so there is nothing in between for a
 * lease to cover (lease_until stays unused); a worker that dies releases its locks, and its due rows
 * come back, with its rolled-back work. A subscriber the API holds right now (pause, cancel) is
 * skipped, its due row left as it is.
 */
export async function claimDueSubscribers(db: Kysely<DB>, sequenceIds: string[], now: Date, limit: number): Promise<DueSubscriber[]> {
  const claimed: DueSubscriber[] = [];
  // One sequence at a time: with `sequence_id = any (…)` the due index cannot give the order, and
  // every due subscriber was read, joined and sorted on each claim (quadratic over a large drip).
  for (const sequenceId of sequenceIds) {
    if (claimed.length >= limit) break;
    const { rows } = await sql<DueSubscriber & { due_id: string }>`${PREPARED}
      with d as (
        select subscriber_id from sequence_due
        where sequence_id = ${sequenceId} and due_at <= ${now}
        order by due_at
        limit ${limit - claimed.length}
        for update skip locked
      ), s as (
        select * from sequence_subscribers
        where id = any (array(select subscriber_id from d)) and status = 'active' and next_due_at is not null and next_due_at <= ${now}
        for update skip locked
      ), gone as (
        delete from sequence_due where subscriber_id = any (array(select id from s))
      )
      select d.subscriber_id as due_id, s.id, s.key_id, s.sequence_id, s.contact_id, s.email, s.variables, s.current_position,
             c.email as contact_email, c.name as contact_name, c.metadata as contact_metadata
      from d left join s on s.id = d.subscriber_id
      -- A probe per subscriber, whatever the generic plan thinks of the tables' sizes (a join was planned as a scan of every contact).
      left join lateral (select email, name, metadata from contacts where id = s.contact_id and key_id = s.key_id limit 1) c on true`.execute(db);
    const unclaimed: string[] = [];
    for (const { due_id, ...r } of rows) {
      if (r.id === null) unclaimed.push(due_id);
      else claimed.push({ ...r, contact_id: Number(r.contact_id), variables: parse(r.variables) ?? {}, contact_metadata: parse(r.contact_metadata) });
    }
    if (unclaimed.length) await repairDue(db, unclaimed, now);
  }
  return claimed;
}

/**
 * Due rows that named no claimable subscriber: those of a subscriber another transaction holds are
 * left alone (it is still active and due as committed); any other is made to match its subscriber
 * as it stands (deleted, or moved to its next_due_at), so it never heads the due index again.
 */
async function repairDue(db: Kysely<DB>, ids: string[], now: Date): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    select id from sequence_subscribers where id = any (${ids}::text[]) and status = 'active' and next_due_at is not null and next_due_at <= ${now}`.execute(db);
  const held = new Set(rows.map((r) => r.id));
  const stale = ids.filter((id) => !held.has(id));
  if (stale.length) await syncDue(db, stale);
}

function parse<T>(value: T | string | null): T | null {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

/**
 * A step as the scheduler reads it: the row, less its timestamps, with its template (null when it
 * names none, or the template was deleted) and the domains its key may send from as they stand now.
 */
export type SchedulerStep = Omit<Selectable<SequenceStepsTable>, 'created_at' | 'updated_at'> & {
  template: StepTemplate | null;
  verified_domains: string[];
};

export interface StepTemplate {
  subject: string;
  html: string | null;
  body_text: string | null;
  updated_at: Date;
}

/** The steps of the sequences, ordered by position, each with its template and its key's verified domains: one statement. */
export async function stepsOf(db: Kysely<DB>, sequenceIds: string[]): Promise<SchedulerStep[]> {
  if (!sequenceIds.length) return [];
  const { rows } = await sql<Omit<SchedulerStep, 'template'> & { t_found: boolean; t_subject: string; t_html: string | null; t_body_text: string | null; t_updated_at: Date }>`${PREPARED}
    select st.id, st.sequence_id, st.key_id, st.position, st.offset_seconds, st.subject, st.html, st.body_text, st.from_email, st.from_name,
           st.reply_to, st.template_id, st.tracking, st.content_id, st.content_stamp,
           t.id is not null as t_found, t.subject as t_subject, t.html as t_html, t.body_text as t_body_text, t.updated_at as t_updated_at,
           array(select dm.domain from domains dm where dm.key_id = st.key_id and dm.verified_at is not null) as verified_domains
    from sequence_steps st
    left join templates t on t.id = st.template_id and t.key_id = st.key_id
    where st.sequence_id = any (${sequenceIds}::text[])
    order by st.sequence_id, st.position`.execute(db);
  return rows.map(({ t_found, t_subject, t_html, t_body_text, t_updated_at, ...step }) => ({
    ...step,
    content_stamp: asDate(step.content_stamp),
    template: t_found ? { subject: t_subject, html: t_html, body_text: t_body_text, updated_at: asDate(t_updated_at)! } : null,
  }));
}

function asDate(value: Date | string | null): Date | null {
  return value === null || value instanceof Date ? value : new Date(value);
}

export interface NewContent {
  key_id: string;
  from_email: string;
  from_name: string | null;
  reply_to: string | null;
  subject: string;
  html: string | null;
  text: string | null;
  sequence_id: string;
  tracking: boolean;
}

/** A message_contents row for a step; with `cacheFor`, remembered on the step (with the template's stamp). */
export async function insertStepContent(db: Kysely<DB>, content: NewContent, cacheFor: { stepId: string; stamp: Date | null } | null): Promise<string> {
  const id = newId('mc');
  await db
    .insertInto('message_contents')
    .values({
      id,
      key_id: content.key_id,
      from_email: content.from_email,
      from_name: content.from_name,
      reply_to: JSON.stringify(content.reply_to ? { email: content.reply_to } : null),
      subject: content.subject,
      html: content.html,
      text: content.text,
      // The shared pipeline's bulk defaults: Liquid with the recipient's variables, List-Unsubscribe, and the step's tracking.
      settings: JSON.stringify({ liquid: true, list_unsubscribe: true, tracking: { open: content.tracking, click: content.tracking } }),
      categories: JSON.stringify([`sequence:${content.sequence_id}`]),
    })
    .execute();
  if (cacheFor) await db.updateTable('sequence_steps').set({ content_id: id, content_stamp: cacheFor.stamp }).where('id', '=', cacheFor.stepId).execute();
  return id;
}

export interface NewStepMessage {
  subscriber: DueSubscriber;
  position: number;
  contentId: string;
  /** Null: queued for the send job. A text: made already failed with this response (nothing to send). */
  failure: string | null;
}

export interface MadeStepMessages {
  /** The message ids, in input order. */
  ids: string[];
  /** With a lease: the messages made already claimed by the caller's sender (the failed ones are not). */
  claimed: ClaimedMessage[];
}

/**
 * One bulk message (lane 1, due now) per subscriber, naming the subscription and the step position,
 * with the subscription's variables and the contact's name, email and metadata on top (as a campaign's
 * messages carry them), and each subscriber's current_position set to the step and next_due_at to
 * null (the outcome sets it): one statement, whatever the chunk's size. Without a lease the messages
 * are queued for any worker; with one they are made claimed by the caller (status sending, first
 * attempt counted, as the campaign dispatcher's hand-off does) and returned, so the sender skips the
 * claim. A message that cannot be sent is made already failed either way.
 */
export async function insertStepMessages(db: Kysely<DB>, items: NewStepMessage[], now: Date, leaseUntil: Date | null = null): Promise<MadeStepMessages> {
  if (!items.length) return { ids: [], claimed: [] };
  const ids = items.map(() => newId('msg'));
  // Due at once: never later than the wall clock, so a scheduler on an injected (later) clock still
  // queues messages the send job takes now.
  const dueAt = new Date(Math.min(now.getTime(), Date.now()));
  const leased = leaseUntil !== null;
  const rows = JSON.stringify(
    items.map(({ subscriber: s, position, contentId, failure }, i) => {
      const email = s.contact_email ?? s.email;
      const personalization: Personalization = {
        variables: { ...s.variables, name: s.contact_name ?? '', email, metadata: s.contact_metadata ?? {}, contact_id: s.contact_id },
      };
      return { id: ids[i], sub: s.id, key_id: s.key_id, content_id: contentId, to_email: email, to_name: s.contact_name, personalization, contact_id: s.contact_id, position, failure };
    }),
  );
  const { rows: made } = await sql<{ claimed: unknown }>`${PREPARED}
    with v as (
      select * from jsonb_to_recordset(${rows}::jsonb)
        as v(id text, sub text, key_id text, content_id text, to_email text, to_name text, personalization jsonb, contact_id bigint, position int, failure text)
    ), inserted as (
      insert into messages (id, key_id, content_id, channel, lane, status, to_email, to_name, personalization, due_at, updated_at, last_response,
                            contact_id, sequence_subscriber_id, sequence_step_position, lease_until, attempts, first_attempt_at)
      select v.id, v.key_id, v.content_id, 'bulk', 1,
             case when v.failure is not null then 'failed' when ${leased} then 'sending' else 'queued' end,
             v.to_email, v.to_name, v.personalization, ${dueAt}, ${now}, v.failure, v.contact_id, v.sub, v.position,
             case when v.failure is null then ${leaseUntil}::timestamptz end,
             case when v.failure is null and ${leased} then 1 else 0 end,
             case when v.failure is null and ${leased} then ${now}::timestamptz end
      from v
      returning id, key_id, content_id, channel, lane, to_email, to_name, personalization, attempts, first_attempt_at, campaign_id, status
    ), advanced as (
      update sequence_subscribers s
      set current_position = v.position, next_due_at = null, lease_until = null, updated_at = ${now}
      from v where s.id = v.sub
    ), counted as (
      ${countInto(
        sql`select i.key_id, i.channel, null::text as campaign_id, null::text as batch_id, s.sequence_id, 'failed' as counter
            from inserted i join v on v.id = i.id join sequence_subscribers s on s.id = v.sub where i.status = 'failed'`,
        now,
      )}
    )
    select coalesce(jsonb_agg(to_jsonb(i) - 'status') filter (where i.status = 'sending'), '[]'::jsonb) as claimed from inserted i`.execute(db);
  return { ids, claimed: leased ? claimedFromJson(made[0]!.claimed) : [] };
}

/** Subscribers with no step left: completed, each with its sequence.completed event. */
export async function completeSubscribers(db: Kysely<DB>, ids: string[], now: Date): Promise<void> {
  if (!ids.length) return;
  const rows = await db
    .updateTable('sequence_subscribers')
    .set({ status: 'completed', completed_at: now, next_due_at: null, lease_until: null, updated_at: now })
    .where('id', 'in', ids)
    .where('status', 'in', ['active', 'paused'])
    .returning(['id', 'sequence_id', 'key_id', 'email', 'contact_id'])
    .execute();
  await emitEvents(db, rows.map((row) => ({ keyId: row.key_id, type: 'sequence.completed' as const, data: subscriberEventData(row) })), now);
}
