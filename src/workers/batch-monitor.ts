import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { recordAudit } from '../modules/audit/repo.ts';
import * as progress from '../modules/batches/progress-repo.ts';
import { discardAbandoned, hasOpenMessages, messageCounts, setStatus, type BatchRow } from '../modules/batches/repo.ts';
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
    // Counting every message of a large batch is what costs here (100,000 rows, each round): between
    // progress rows only ask whether anything is still open, which a few index probes answer.
    const due = !batch.progress_at || at.getTime() - new Date(batch.progress_at).getTime() >= progress.STREAM_PROGRESS_MS;
    if (!due && (batch.status !== 'sending' || (await hasOpenMessages(trx, batch.id)))) return false;
    const counts = await messageCounts(trx, batch.id);
    if (batch.status === 'sending' && !isOpen(counts)) {
      const outcome = completionOutcome(counts);
      await setStatus(trx, batch.id, 'completed', at, { outcome, completed: true });
      await progress.recordChange(trx, batch.id, at, true, counts);
      await recordAudit(trx, { keyId: batch.key_id, action: 'batch.completed', objectType: 'batch', objectId: batch.id, summary: { outcome, counts } }, at);
      return true;
    }
    const stored = (await trx.selectFrom('batches').select('progress_counts').where('id', '=', batch.id).executeTakeFirst())?.progress_counts;
    const last = typeof stored === 'string' ? JSON.parse(stored) : (stored ?? null);
    if (!due || sameCounts(last, counts)) return false;
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
