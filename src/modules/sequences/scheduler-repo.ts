import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { newId } from '../../lib/ids.ts';
import type { Personalization } from '../../delivery/compose.ts';
import { emitEvents } from '../events/outbox.ts';
import { subscriberEventData } from './repo.ts';
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
 * probe of `sequence_subscribers_due_by_sequence` per active sequence, whatever waits on later steps.
 */
export async function lockDueSequences(db: Kysely<DB>, now: Date): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select q.id from sequences q
    where q.status = 'active'
      and exists (select 1 from sequence_subscribers s
                  where s.sequence_id = q.id and s.status = 'active' and s.next_due_at is not null and s.next_due_at <= ${now})
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
 * Claims up to `limit` due subscribers of the locked sequences: row locks FOR UPDATE SKIP LOCKED,
 * held until the caller's transaction ends. The row lock is the whole claim: the message is made and
 * the subscriber advanced before the lock is let go, so there is nothing in between for a lease to
 * cover (lease_until stays unused); a worker that dies releases its locks with its rolled-back work.
 */
export async function claimDueSubscribers(db: Kysely<DB>, sequenceIds: string[], now: Date, limit: number): Promise<DueSubscriber[]> {
  if (!sequenceIds.length) return [];
  const { rows } = await sql<DueSubscriber>`
    select s.id, s.key_id, s.sequence_id, s.contact_id, s.email, s.variables, s.current_position,
           c.email as contact_email, c.name as contact_name, c.metadata as contact_metadata
    from sequence_subscribers s
    left join contacts c on c.id = s.contact_id and c.key_id = s.key_id
    where s.sequence_id = any (${sequenceIds}::text[]) and s.status = 'active' and s.next_due_at is not null and s.next_due_at <= ${now}
    order by s.next_due_at
    limit ${limit}
    for update of s skip locked`.execute(db);
  return rows.map((r) => ({
    ...r,
    contact_id: Number(r.contact_id),
    variables: parse(r.variables) ?? {},
    contact_metadata: parse(r.contact_metadata),
  }));
}

function parse<T>(value: T | string | null): T | null {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

/** A step as the scheduler reads it: the row, less its timestamps. */
export type SchedulerStep = Omit<Selectable<SequenceStepsTable>, 'created_at' | 'updated_at'>;

export async function stepsOf(db: Kysely<DB>, sequenceIds: string[]): Promise<SchedulerStep[]> {
  if (!sequenceIds.length) return [];
  return db
    .selectFrom('sequence_steps')
    .select(['id', 'sequence_id', 'key_id', 'position', 'offset_seconds', 'subject', 'html', 'body_text', 'from_email', 'from_name', 'reply_to', 'template_id', 'content_id', 'content_stamp'])
    .where('sequence_id', 'in', sequenceIds)
    .orderBy('sequence_id')
    .orderBy('position')
    .execute();
}

export interface StepTemplate {
  id: string;
  subject: string;
  html: string | null;
  body_text: string | null;
  updated_at: Date;
}

export async function templatesOf(db: Kysely<DB>, keyId: string, ids: string[]): Promise<Map<string, StepTemplate>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('templates').select(['id', 'subject', 'html', 'body_text', 'updated_at']).where('key_id', '=', keyId).where('id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, r]));
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
      // The shared pipeline's bulk defaults: Liquid with the recipient's variables, List-Unsubscribe, tracking.
      settings: JSON.stringify({ liquid: true, list_unsubscribe: true, tracking: { open: true, click: true } }),
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

/**
 * One bulk message (lane 1, due now) per subscriber, naming the subscription and the step position,
 * with the subscription's variables and the contact's name, email and metadata on top (as a campaign's
 * messages carry them), then each subscriber's current_position set to the step and next_due_at to
 * null (the outcome sets it). Returns the message ids in input order.
 */
export async function insertStepMessages(db: Kysely<DB>, items: NewStepMessage[], now: Date): Promise<string[]> {
  if (!items.length) return [];
  const ids = items.map(() => newId('msg'));
  // Due at once: never later than the wall clock, so a scheduler on an injected (later) clock still
  // queues messages the send job takes now.
  const dueAt = new Date(Math.min(now.getTime(), Date.now()));
  await db
    .insertInto('messages')
    .values(
      items.map(({ subscriber: s, position, contentId, failure }, i) => {
        const email = s.contact_email ?? s.email;
        const personalization: Personalization = {
          variables: { ...s.variables, name: s.contact_name ?? '', email, metadata: s.contact_metadata ?? {}, contact_id: s.contact_id },
        };
        return {
          id: ids[i]!,
          key_id: s.key_id,
          content_id: contentId,
          channel: 'bulk' as const,
          lane: 1,
          status: failure ? ('failed' as const) : ('queued' as const),
          to_email: email,
          to_name: s.contact_name,
          personalization: JSON.stringify(personalization),
          due_at: dueAt,
          updated_at: now,
          last_response: failure,
          contact_id: s.contact_id,
          sequence_subscriber_id: s.id,
          sequence_step_position: position,
        };
      }),
    )
    .execute();
  const advance = JSON.stringify(items.map((item) => ({ id: item.subscriber.id, position: item.position })));
  await sql`
    update sequence_subscribers s
    set current_position = v.position, next_due_at = null, lease_until = null, updated_at = ${now}
    from jsonb_to_recordset(${advance}::jsonb) as v(id text, position int)
    where s.id = v.id`.execute(db);
  return ids;
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
