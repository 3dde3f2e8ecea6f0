import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Engine } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import type { HandOff } from '../delivery/hand-off.ts';
import type { ClaimedMessage } from '../delivery/queue-repo.ts';
import { isAddressOnDomains } from '../modules/domains/records.ts';
import { recordStepOutcomes } from '../modules/sequences/outcome-repo.ts';
import { cancelSubscription } from '../modules/sequences/repo.ts';
import { nextStep } from '../modules/sequences/schedule.ts';
import * as repo from '../modules/sequences/scheduler-repo.ts';
import type { Job } from './runner.ts';

export interface SequenceSchedulerDeps {
  db: Kysely<DB>;
  logger: Logger;
  now?: () => Date;
  /** Subscribers claimed per transaction. */
  batchSize?: number;
  /** Called inside each chunk's transaction just before it commits (tests kill a worker there). */
  beforeCommit?: (made: number) => void | Promise<void>;
  /** Called when a chunk queued messages, so the delivery job in this process wakes. */
  onQueued?: () => void;
  /**
   * This process's sender: step messages are then made already claimed by it and handed over (as the
   * campaign dispatcher does), and scheduling keeps pace with sending. Without it they are queued for
   * any worker.
   */
  handOff?: HandOff;
  /** How long a round waits for the sender to make room before it ends (and the runner polls again). */
  roomWaitMs?: number;
  /**
   * Chunk transactions in flight at once (default 1). A chunk spends most of its time waiting on
   * statements, not on a CPU: with two, one claims and makes while the other commits, and the sender
   * is not left waiting for the next chunk. Only worth it with a connection pool (PostgreSQL).
   */
  concurrency?: number;
}

/**
 * The sequence sending scheduler. Each chunk is ONE transaction that:
 * 1. locks the active sequences with due subscribers FOR SHARE (their steps and status cannot change
 *    until we commit; one being edited is skipped this round) and claims up to `batchSize` of their
 *    due subscribers FOR UPDATE SKIP LOCKED (several workers share them), deleting their
 *    sequence_due rows (the narrow due index, migration 1400) in the same statement;
 * 2. per subscriber, finds its next step; makes the step's message (bulk, lane 1, queued, due now,
 *    naming the subscription and the step position) from the step's content, or completes the
 *    subscriber (`sequence.completed`) when no step is left;
 * 3. sets current_position to the step and next_due_at to null (the outcome sets the next due time).
 *
 * The message and the advance commit together: a crash before the commit leaves neither (the
 * subscriber is still due and the next claim makes the message), a crash after it leaves both (the
 * subscriber is no longer due for that step). So a step is never made twice and never skipped. The
 * row lock is the claim: it lasts exactly as long as the work it protects, so a lease (which covers
 * work done outside the claiming transaction) is not needed.
 *
 * A step whose content cannot be made (its template was deleted and the step has no subject and body
 * of its own) or whose from address is no longer on a verified domain of the key gets a message made
 * already failed with the reason as its response: `sequence.step.failed` is written and the subscriber
 * moves on, as for any finally failed step. A subscriber whose contact was deleted is cancelled
 * (reason `manual`). Rendering, List-Unsubscribe, tracking, the suppression check and DKIM happen in
 * the send job, the shared pipeline, as for every message.
 *
 * With `concurrency` above 1, a round runs that many chunk loops side by side (the second starts only
 * once the first took a whole chunk, so a round with little due is one transaction, as before). They
 * share the due subscribers exactly as several worker processes do: by SKIP LOCKED. Each loop
 * reserves its share of the hand-off's room before claiming, so together they never hand over more
 * than the sender has room for.
 */
/** PGlite has one connection, so its transactions run one at a time anyway: overlapping them gains nothing. */
export function chunkConcurrencyFor(engine: Engine): number {
  return engine === 'postgres' ? 2 : 1;
}

/** Chunks one loop takes in a round before the round ends, so a long drip does not make one endless round. */
const MAX_CHUNKS_PER_LOOP = 20;

export function createSequenceScheduler(deps: SequenceSchedulerDeps): Job {
  const { db, logger } = deps;
  const batchSize = deps.batchSize ?? 500;
  const concurrency = Math.max(1, deps.concurrency ?? 1);
  const clock = deps.now ?? (() => new Date());
  /** Hand-off room promised to chunks in flight, not yet put. */
  let reserved = 0;
  let stopping = false;

  async function chunk(limit: number): Promise<{ handled: number; queued: number; claimed: ClaimedMessage[] }> {
    return db.transaction().execute(async (trx) => {
      const now = clock();
      const sequenceIds = await repo.lockDueSequences(trx, now);
      const due = await repo.claimDueSubscribers(trx, sequenceIds, now, limit);
      if (!due.length) return { handled: 0, queued: 0, claimed: [] };

      const steps = await repo.stepsOf(trx, [...new Set(due.map((s) => s.sequence_id))]);
      const stepsBySequence = new Map<string, repo.SchedulerStep[]>();
      for (const step of steps) {
        const own = stepsBySequence.get(step.sequence_id);
        if (own) own.push(step);
        else stepsBySequence.set(step.sequence_id, [step]);
      }

      const completed: string[] = [];
      const toMake: Array<{ subscriber: repo.DueSubscriber; step: repo.SchedulerStep }> = [];
      for (const subscriber of due) {
        if (subscriber.contact_email === null) {
          await cancelSubscription(trx, subscriber.key_id, subscriber.id, 'manual', now);
          continue;
        }
        const step = nextStep(stepsBySequence.get(subscriber.sequence_id) ?? [], subscriber.current_position);
        if (step) toMake.push({ subscriber, step });
        else completed.push(subscriber.id);
      }

      const contents = await contentsFor(trx, [...new Set(toMake.map((m) => m.step))]);
      const items = toMake.map(({ subscriber, step }) => {
        const made = contents.get(step.id)!;
        return { subscriber, position: step.position, contentId: made.contentId, failure: made.failure };
      });
      // The lease runs on the wall clock, as the sender's own claims do.
      const leaseUntil = deps.handOff ? new Date(Date.now() + deps.handOff.leaseMs) : null;
      const { ids, claimed } = await repo.insertStepMessages(trx, items, now, leaseUntil);
      const failed = items.flatMap((item, i) =>
        item.failure
          ? [{ messageId: ids[i]!, subscriberId: item.subscriber.id, position: item.position, status: 'failed', at: now, response: item.failure, dropReason: null }]
          : [],
      );
      await recordStepOutcomes(trx, failed, now);
      await repo.completeSubscribers(trx, completed, now);
      await deps.beforeCommit?.(items.length);
      return { handled: due.length, queued: items.length - failed.length, claimed };
    });
  }

  /** Subscribers the next chunk may take: a whole chunk, or the room left beside the chunks in flight (0: wait). */
  async function reserveChunk(): Promise<number> {
    if (!deps.handOff) return batchSize;
    if (!(await deps.handOff.waitForRoom(reserved + batchSize, deps.roomWaitMs ?? 1000))) return 0;
    const limit = Math.min(batchSize, deps.handOff.room() - reserved);
    if (limit <= 0) return 0;
    reserved += limit;
    return limit;
  }

  /** One chunk, then its messages handed over: how many subscribers it handled, and whether it was whole. */
  async function chunkAndHand(): Promise<{ handled: number; whole: boolean }> {
    const limit = await reserveChunk();
    if (limit === 0) return { handled: 0, whole: false };
    let made: Awaited<ReturnType<typeof chunk>>;
    try {
      made = await chunk(limit);
    } finally {
      if (deps.handOff) reserved -= limit;
    }
    // Only once committed: a rolled-back chunk's messages never existed.
    if (made.claimed.length) deps.handOff?.put(made.claimed);
    if (made.queued) deps.onQueued?.();
    return { handled: made.handled, whole: made.handled >= limit };
  }

  /** Chunks one after another while each is whole, up to a bound (the runner starts the next round). */
  async function chunkLoop(): Promise<number> {
    let total = 0;
    for (let n = 0; n < MAX_CHUNKS_PER_LOOP && !stopping; n++) {
      const { handled, whole } = await chunkAndHand();
      total += handled;
      if (!whole) break;
    }
    return total;
  }

  /** Per step: its content (the cached row, or a new one) or, when it cannot be sent, why. */
  async function contentsFor(trx: Kysely<DB>, steps: repo.SchedulerStep[]): Promise<Map<string, { contentId: string; failure: string | null }>> {
    const out = new Map<string, { contentId: string; failure: string | null }>();
    for (const step of steps) {
      const template = step.template ?? undefined;
      const fromEmail = step.from_email ?? '';
      let failure: string | null = null;
      if (!fromEmail || !isAddressOnDomains(fromEmail, step.verified_domains)) failure = `from address ${fromEmail || '(none)'} is not on a verified sending domain of this key`;
      const subject = step.subject ?? template?.subject ?? null;
      const html = step.html ?? template?.html ?? null;
      const text = step.body_text ?? template?.body_text ?? null;
      if (!failure && (subject === null || (html === null && text === null))) failure = `template ${step.template_id} was deleted; the step has no content of its own`;

      const stamp = template?.updated_at ?? null;
      const cached = step.content_id && (step.content_stamp?.getTime() ?? null) === (stamp?.getTime() ?? null);
      if (!failure && cached) {
        out.set(step.id, { contentId: step.content_id!, failure: null });
        continue;
      }
      if (failure) logger.warn({ step: step.id, sequence: step.sequence_id, reason: failure }, 'sequence step cannot be sent; subscribers move on');
      const contentId = await repo.insertStepContent(
        trx,
        { key_id: step.key_id, from_email: fromEmail || 'unknown@invalid', from_name: step.from_name, reply_to: step.reply_to, subject: subject ?? '', html, text, sequence_id: step.sequence_id, tracking: step.tracking },
        failure ? null : { stepId: step.id, stamp },
      );
      out.set(step.id, { contentId, failure });
    }
    return out;
  }

  return {
    name: 'sequence-scheduler',
    async runOnce() {
      stopping = false;
      const first = await chunkAndHand();
      if (concurrency === 1 || !first.whole) return first.handled;
      // A whole first chunk: more is due. The loops overlap from here (the first chunk also made any
      // step content still missing, so the loops find it and do not each make their own).
      const handled = await Promise.all(Array.from({ length: concurrency }, chunkLoop));
      return first.handled + handled.reduce((a, b) => a + b, 0);
    },
    stop() {
      stopping = true;
    },
  };
}
