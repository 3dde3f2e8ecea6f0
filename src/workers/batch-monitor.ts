import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { recordAudit } from '../modules/audit/repo.ts';
import * as progress from '../modules/batches/progress-repo.ts';
import { batchCounts, discardAbandoned, setStatus, type BatchRow } from '../modules/batches/repo.ts';
import { canaryVerdict, completionOutcome, isOpen } from '../modules/batches/rules.ts';
import type { Job } from './runner.ts';

/** Uploads older than this with no acceptance came from a process that died mid-request. */
const ABANDONED_MS = 3600_000;

const sameCounts = (a: Record<string, number> | null, b: Record<string, number>) => !!a && Object.keys(b).every((k) => a[k] === b[k]);

/**
 * Moves live batches along: accepted → canary or sending; a final canary slice → sending, or
 * awaiting_approval when held or over a threshold; sending with nothing open → completed with its
 * outcome. Counts that moved become a progress row at most once a second. Each batch is handled
 * under its row lock, so two workers never both move one.
 */
export function createBatchMonitor(deps: { db: Kysely<DB>; logger: Logger; now?: () => Date; onQueued?: () => void }): Job {
  const now = deps.now ?? (() => new Date());
  const { db } = deps;

  async function step(trx: Kysely<DB>, batch: BatchRow, at: Date): Promise<boolean> {
    if (batch.status === 'accepted') {
      if (batch.send_at && new Date(batch.send_at) > at) return false;
      await setStatus(trx, batch.id, batch.canary ? 'canary' : 'sending', at);
      await progress.recordChange(trx, batch.id, at);
      return true;
    }
    if (batch.status === 'canary' && batch.canary) {
      const verdict = canaryVerdict(batch.canary, await progress.canaryResult(trx, batch.id), at);
      if (verdict.next === 'sending') {
        await progress.releaseHeld(trx, batch.id, at);
        await setStatus(trx, batch.id, 'sending', at);
        await progress.recordChange(trx, batch.id, at);
        deps.onQueued?.();
        return true;
      }
      if (verdict.next === 'awaiting_approval') {
        await setStatus(trx, batch.id, 'awaiting_approval', at, { hold: verdict.hold });
        await progress.recordChange(trx, batch.id, at);
        return true;
      }
    }
    // The counts come from the batch's aggregates (a few rows, whatever its size), never from its
    // messages: asking each round whether it is final costs the same as at the end.
    const due = !batch.progress_at || at.getTime() - new Date(batch.progress_at).getTime() >= progress.STREAM_PROGRESS_MS;
    if (!due && batch.status !== 'sending') return false;
    const counts = await batchCounts(trx, batch);
    if (batch.status === 'sending' && !isOpen(counts)) {
      const outcome = completionOutcome(counts);
      await setStatus(trx, batch.id, 'completed', at, { outcome, completed: true });
      await progress.recordChange(trx, batch.id, at, true, counts);
      await recordAudit(trx, { keyId: batch.key_id, action: 'batch.completed', objectType: 'batch', objectId: batch.id, summary: { outcome, counts } }, at);
      return true;
    }
    if (!due || sameCounts(batch.progress_counts, counts)) return false;
    await progress.recordChange(trx, batch.id, at, false, counts);
    return true;
  }

  return {
    name: 'batch-monitor',
    async runOnce() {
      const at = now();
      let handled = await discardAbandoned(db, new Date(at.getTime() - ABANDONED_MS));
      const ids = (await db.selectFrom('batches').select('id').where('status', 'in', ['accepted', 'canary', 'sending']).orderBy('updated_at').limit(100).execute()).map((r) => r.id);
      for (const id of ids) {
        try {
          const moved = await db.transaction().execute(async (trx) => {
            const [batch] = await progress.claimLive(trx, id);
            return batch ? step(trx, batch, at) : false;
          });
          if (moved) handled++;
        } catch (error) {
          deps.logger.error({ err: error, batchId: id }, 'moving a batch on failed');
        }
      }
      return handled;
    },
  };
}
