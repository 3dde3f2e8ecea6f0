import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { RECIPIENT_KEY_WINDOW_MS } from '../modules/batches/rules.ts';
import { decide, type PaceState } from '../modules/retention/pace.ts';
import * as repo from '../modules/retention/repo.ts';
import type { Job } from './runner.ts';

export interface RetentionJobOptions {
  db: Kysely<DB>;
  logger: Logger;
  retentionDays: number;
  /** Never longer than retentionDays (config clamps it). */
  contentRetentionDays: number;
  /** Most rows per statement. */
  batchSize: number;
  /** How often the job looks again once nothing was left to remove. */
  intervalMs?: number;
  /**
   * After a round that removed rows, the job waits this many times the round's own duration before
   * the next (default 4: it works at most a fifth of the time), so deleting does not crowd out sending.
   * bench:retention measured a factor of 1 costing the campaign 20-40 % on two loaded cores.
   */
  pauseFactor?: number;
  /**
   * Longest the job puts a round off while the send path is busy (default 60 s): then one round runs
   * anyway, so a queue that never empties cannot starve retention (src/modules/retention/pace.ts).
   */
  maxYieldMs?: number;
  now?: () => Date;
  /** Monotonic ms for pauses and yields (tests inject it; default performance.now). */
  monotonic?: () => number;
}

const NAME = 'retention';
const DAY_MS = 86_400_000;
/** A holder that died gives the job up after this long. */
const LEASE_MS = 5 * 60_000;

/**
 * Retention: removes the message log older than MAILERDASH_RETENTION_DAYS in bounded batches by
 * indexed time order (see docs/architecture.md and docs/benchmarks.md for why not partitions).
 * One process at a time runs it (a lease in job_leases); every round makes at most one statement
 * per table (per key for messages) and returns how many rows went.
 */
export function createRetentionJob(options: RetentionJobOptions): Job {
  const { db, logger, batchSize } = options;
  const clock = options.now ?? (() => new Date());
  const intervalMs = options.intervalMs ?? 60_000;
  const maxYieldMs = options.maxYieldMs ?? 60_000;
  const rule = { pauseFactor: options.pauseFactor ?? 4, maxYieldMs, recheckMs: Math.min(1000, maxYieldMs) };
  const monotonic = options.monotonic ?? (() => performance.now());
  const holder = `retention-${randomUUID()}`;
  let notBefore = Number.NEGATIVE_INFINITY;
  let pace: PaceState = { lastRoundEndedAt: null, lastRoundMs: 0, lastRoundRemoved: false, yieldingSince: null };
  let stopping = false;

  async function round(now: Date): Promise<number> {
    const before = new Date(now.getTime() - options.retentionDays * DAY_MS);
    const contentBefore = new Date(now.getTime() - Math.min(options.contentRetentionDays, options.retentionDays) * DAY_MS);
    let removed = 0;
    for (const { keyId, from } of await repo.keyCursors(db)) removed += await repo.removeMessages(db, keyId, before, batchSize, from);
    removed += await repo.stripContents(db, contentBefore, batchSize, now);
    removed += await repo.removeUnusedContents(db, before, batchSize);
    removed += await repo.removeEvents(db, before, batchSize);
    removed += await repo.removeWebhookDeliveries(db, before, batchSize);
    removed += await repo.removeInboundReports(db, before, batchSize);
    removed += await repo.removeBatchRecipients(db, before, batchSize);
    removed += await repo.removeFinishedImports(db, before, batchSize);
    removed += await repo.removeBatchRecipientKeys(db, new Date(now.getTime() - RECIPIENT_KEY_WINDOW_MS), batchSize);
    return removed;
  }

  return {
    name: NAME,
    stop() {
      stopping = true;
    },
    async runOnce() {
      if (stopping || monotonic() < notBefore) return 0;
      const now = clock();
      const decision = decide(pace, monotonic(), await repo.sendPathBusy(db, now), rule);
      if (decision.action === 'wait') {
        notBefore = decision.untilMs;
        return 0;
      }
      if (decision.action === 'yield') {
        pace = { ...pace, yieldingSince: decision.since };
        notBefore = decision.untilMs;
        return 0;
      }
      if (!(await repo.claimLease(db, NAME, holder, now, new Date(now.getTime() + LEASE_MS)))) {
        notBefore = monotonic() + intervalMs;
        return 0;
      }
      const started = monotonic();
      const removed = await round(now);
      const ended = monotonic();
      pace = { lastRoundEndedAt: ended, lastRoundMs: ended - started, lastRoundRemoved: removed > 0, yieldingSince: null };
      if (removed === 0) {
        // Nothing left: the lease says when anyone runs it next.
        await repo.setLease(db, NAME, holder, new Date(now.getTime() + intervalMs));
        notBefore = ended + intervalMs;
      } else {
        logger.debug({ removed, ms: Math.round(ended - started) }, 'retention round');
      }
      return removed;
    },
  };
}
