import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { processInboundMail, type ProcessDeps } from '../modules/inbound/process.ts';
import { claimReports, failReport, finishReport, type ClaimedReport } from '../modules/inbound/repo.ts';
import type { Job } from './runner.ts';

const BATCH = 50;
const LEASE_MS = 60_000;
/** A mail whose processing throws this many times is failed for good (and listed for the operator). */
export const MAX_INBOUND_ATTEMPTS = 5;

/**
 * Processes stored inbound mail: claims pending reports (`FOR UPDATE SKIP LOCKED`, a lease), and for
 * each applies its feedback and records the outcome in the same transaction, so the effects and the
 * report's `processed` commit together. A report that throws is retried with backoff, then failed.
 */
export function createInboundReportsJob(deps: ProcessDeps & { db: Kysely<DB>; logger: Logger; ready?: () => Promise<void>; now?: () => Date }): Job {
  const clock = deps.now ?? (() => new Date());
  async function processOne(trx: Kysely<DB>, mail: ClaimedReport): Promise<void> {
    const now = clock();
    const outcome = await processInboundMail(trx, mail, deps, now);
    await finishReport(trx, mail.id, mail.attempts, outcome, now);
  }
  return {
    name: 'inbound-reports',
    async runOnce() {
      const claimed = await claimReports(deps.db, BATCH, clock(), LEASE_MS);
      if (!claimed.length) return 0;
      await deps.ready?.();
      // The whole batch in one transaction (one commit, not fifty); should one report throw, the
      // batch rolls back and each is taken alone, so one bad mail never holds the others back.
      try {
        await deps.db.transaction().execute(async (trx) => {
          for (const mail of claimed) await processOne(trx, mail);
        });
        return claimed.length;
      } catch (error) {
        deps.logger.warn({ err: error }, 'an inbound batch failed; processing its reports one by one');
      }
      for (const mail of claimed) {
        try {
          await deps.db.transaction().execute((trx) => processOne(trx, mail));
        } catch (error) {
          deps.logger.error({ err: error, report: mail.id }, 'processing an inbound report failed');
          const retryAt = mail.attempts >= MAX_INBOUND_ATTEMPTS ? null : new Date(clock().getTime() + 60_000 * 2 ** mail.attempts);
          await failReport(deps.db, mail.id, mail.attempts, String((error as Error).message ?? error).slice(0, 1000), retryAt);
        }
      }
      return claimed.length;
    },
  };
}
