import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { handOffLimit, type HandOff } from '../delivery/hand-off.ts';
import { claimReleasable, releaseSlice } from '../modules/batches/release-repo.ts';
import type { Job } from './runner.ts';

export interface BatchDispatcherDeps {
  db: Kysely<DB>;
  logger: Logger;
  /** Recipients released per transaction. */
  sliceSize?: number;
  now?: () => Date;
  /** Called when a slice queued messages for any worker, so the delivery job in this process wakes. */
  onQueued?: () => void;
  /**
   * This process's sender: bulk slices are then made already claimed by it and handed over, and
   * releasing keeps pace with sending (a slice waits for room). Without it, slices are queued.
   */
  handOff?: HandOff;
  /** How long a round waits for the sender to make room before it ends (and the runner polls again). */
  roomWaitMs?: number;
}

/**
 * The batch slice dispatcher: each round takes one batch with accepted recipients still to
 * release (its release row locked, SKIP LOCKED) and, in ONE transaction, makes the next slice of them into
 * messages and advances the batch's cursor, as the campaign dispatcher does with list members. A
 * crash rolls the slice back; the ids given at staging make a repeated slice create nothing twice.
 * Committed slices go to the sender like any claimed message: routing (policy, hourly caps, the
 * decision log, a cancel) is decided per message by the send job's batch router, as before.
 */
export function createBatchDispatcher(deps: BatchDispatcherDeps): Job {
  const { db } = deps;
  const sliceSize = deps.sliceSize ?? 1000;
  const now = deps.now ?? (() => new Date());

  return {
    name: 'batch-dispatcher',
    async runOnce() {
      const limit = await handOffLimit(deps.handOff, sliceSize, deps.roomWaitMs ?? 1000);
      if (limit === 0) return 0;
      const { released, claimed } = await db.transaction().execute(async (trx) => {
        const at = now();
        const batch = await claimReleasable(trx, at);
        if (!batch) return { released: 0, claimed: [] };
        // Transactional batches go through lane 0, which is claimed, never handed over.
        const leaseUntil = deps.handOff && batch.channel !== 'trans' ? new Date(at.getTime() + deps.handOff.leaseMs) : null;
        const slice = await releaseSlice(trx, batch, { limit, now: at, leaseUntil });
        // A batch with nothing left to release still counts as handled: its cursor was closed.
        return { released: Math.max(1, slice.released), claimed: slice.claimed };
      });
      // Only once committed: a rolled-back slice's messages never existed.
      if (claimed.length) deps.handOff?.put(claimed);
      if (released > claimed.length) deps.onQueued?.();
      return released;
    },
  };
}
