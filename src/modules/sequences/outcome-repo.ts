import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { PREPARED } from '../../db/prepared.ts';
import { emitEvents, type NewEvent } from '../events/outbox.ts';
import { cancelSubscription, subscriberEventData } from './repo.ts';
import { dueAfter, nextStep } from './schedule.ts';
import { completeSubscribers } from './scheduler-repo.ts';

/**
 * What a step message's outcome does to its subscription. Run inside the transaction that records
 * the outcome (delivery/queue-repo.ts recordOutcomes), only when a sequence message is among the
 * outcomes, and by the scheduler for a step it could not make (made already failed):
 *
 * - sent: `sequence.step.sent`; the next step is due at the send time + its offset, or the
 *   subscriber is completed (`sequence.completed`);
 * - bounced: `sequence.step.failed`, then cancelled with reason `bounced` (`sequence.cancelled`);
 * - dropped because the address is suppressed: `sequence.step.failed`, cancelled `suppressed`;
 * - finally failed (or dropped for another reason): `sequence.step.failed`, and the subscriber moves
 *   on: the next step is due at the failure time + its offset, or it is completed. One undeliverable
 *   step does not hold the rest of the sequence back forever, and the webhook tells the integrator;
 * - queued / deferred (a retry to come): nothing.
 *
 * A subscriber advances only when it is live and still at the message's position, so an outcome
 * arriving after a cancel, or twice, changes nothing. Paused subscribers get their next due time
 * (resume re-bases it) or are completed.
 */

export interface StepOutcome {
  messageId: string;
  subscriberId: string;
  position: number;
  status: string;
  /** sent_at for a sent message, the outcome's time otherwise. */
  at: Date;
  response: string | null;
  /** The reason of a drop (`suppressed (bounce)`, `sandbox`, …). */
  dropReason: string | null;
}

interface LockedSubscriber {
  id: string;
  key_id: string;
  sequence_id: string;
  email: string;
  contact_id: number;
  status: string;
  current_position: number;
}

export async function recordStepOutcomes(db: Kysely<DB>, outcomes: StepOutcome[], now: Date): Promise<void> {
  const final = outcomes.filter((o) => ['sent', 'bounced', 'failed', 'dropped'].includes(o.status));
  if (!final.length) return;
  const ids = [...new Set(final.map((o) => o.subscriberId))];
  // The subscribers are read without a lock: every write below re-checks, on the row as it then
  // stands, that it is still live at this position (a cancel or pause meanwhile wins), so a lock of
  // each row, a write of its own, buys nothing. The sequences FOR SHARE: their steps cannot change
  // under us (the API's step changes hold them FOR UPDATE).
  const { rows } = await sql<LockedSubscriber>`${PREPARED}
    select id, key_id, sequence_id, email, contact_id, status, current_position from sequence_subscribers
    where id = any (${ids}::text[])`.execute(db);
  const subscribers = new Map(rows.map((r) => [r.id, { ...r, contact_id: Number(r.contact_id) }]));
  const sequenceIds = [...new Set(rows.map((r) => r.sequence_id))].sort();
  if (sequenceIds.length) await sql`${PREPARED} select id from sequences where id = any (${sequenceIds}::text[]) order by id for share`.execute(db);
  const steps = sequenceIds.length
    ? await db.selectFrom('sequence_steps').select(['id', 'sequence_id', 'position', 'offset_seconds']).where('sequence_id', 'in', sequenceIds).execute()
    : [];

  const events: NewEvent[] = [];
  const completed: string[] = [];
  const cancels: Array<{ sub: LockedSubscriber; reason: 'bounced' | 'suppressed' }> = [];
  const due: Array<{ id: string; position: number; next_due_at: string }> = [];
  for (const outcome of final) {
    const sub = subscribers.get(outcome.subscriberId);
    if (!sub) continue;
    const own = steps.filter((s) => s.sequence_id === sub.sequence_id);
    const step = own.find((s) => s.position === outcome.position);
    const data = {
      ...subscriberEventData(sub),
      step_id: step?.id ?? '',
      position: outcome.position,
      message_id: outcome.messageId,
      response: outcome.response ?? outcome.dropReason,
    };
    events.push({ keyId: sub.key_id, type: outcome.status === 'sent' ? 'sequence.step.sent' : 'sequence.step.failed', data });

    const live = (sub.status === 'active' || sub.status === 'paused') && sub.current_position === outcome.position;
    if (!live) continue;
    if (outcome.status === 'bounced') cancels.push({ sub, reason: 'bounced' });
    else if (outcome.status === 'dropped' && outcome.dropReason?.startsWith('suppressed')) cancels.push({ sub, reason: 'suppressed' });
    else {
      const next = nextStep(own, outcome.position);
      if (next) due.push({ id: sub.id, position: outcome.position, next_due_at: dueAfter(outcome.at, next.offset_seconds).toISOString() });
      else completed.push(sub.id);
    }
    sub.status = 'done'; // one outcome per subscriber and position moves it
  }
  // The step's own event first, then what it led to.
  await emitEvents(db, events, now);
  // One statement for every subscriber whose next step is now timed (one per row cost 0.4 ms each):
  // the subscriber's next_due_at (a HOT update: no index names it), and for an active one its row
  // in the narrow due index (a paused one gets it on resume).
  if (due.length) {
    await sql`${PREPARED}
      with timed as (
        update sequence_subscribers s set next_due_at = v.next_due_at, updated_at = ${now}
        from jsonb_to_recordset(${JSON.stringify(due)}::jsonb) as v(id text, position int, next_due_at timestamptz)
        where s.id = v.id and s.status in ('active', 'paused') and s.current_position = v.position
        returning s.id, s.sequence_id, s.status, s.next_due_at
      )
      insert into sequence_due (subscriber_id, sequence_id, due_at)
      select id, sequence_id, next_due_at from timed where status = 'active'
      on conflict (subscriber_id) do update set due_at = excluded.due_at`.execute(db);
  }
  for (const { sub, reason } of cancels) await cancelSubscription(db, sub.key_id, sub.id, reason, now);
  await completeSubscribers(db, completed, now);
}
