import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { DomainError } from '../errors.ts';
import { openStaging } from '../modules/contacts/import-repo.ts';
import { rowsFor } from '../modules/contacts/import-sources.ts';
import { runImport, MAX_IMPORT_ROWS } from '../modules/contacts/import.ts';
import * as repo from '../modules/imports/repo.ts';
import type { Job } from './runner.ts';

/** How long a claimed import stays this worker's without a heartbeat; a dead worker's job is taken over after it. */
export const IMPORT_LEASE_MS = 60_000;
/** Counts so far are written at most this often (each write also extends the lease). */
const PROGRESS_MS = 1_000;
/** Rounds that failed for a passing reason before the job is failed for good. */
const MAX_ATTEMPTS = 3;
const RETRY_BASE_MS = 30_000;
/** Uploads older than this still receiving came from a process that died mid-request. */
const ABANDONED_MS = 3_600_000;

class LeaseLost extends Error {}

export interface ContactImportDeps {
  db: Kysely<DB>;
  engine: string;
  pool?: pg.Pool | undefined;
  logger: Logger;
  now?: () => Date;
  leaseMs?: number;
}

/**
 * Runs import jobs: claims one due job with a lease, reads its stored body from the database, stages
 * and merges it exactly as the synchronous import does, and records the same result. A worker that
 * dies mid-import leaves nothing merged (the merge is one transaction at the end), so the next worker
 * restarts the job from its first row; a death after the merge but before the result was recorded
 * re-runs it too, which is safe because an import is an upsert by address (the rerun then counts those
 * rows as updated).
 */
export function createContactImportJob(deps: ContactImportDeps): Job {
  const { db, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const leaseMs = deps.leaseMs ?? IMPORT_LEASE_MS;
  const owner = `imports-${randomBytes(6).toString('hex')}`;

  async function* storedBody(importId: string): AsyncGenerator<Buffer> {
    for (let seq = 0; ; seq++) {
      const data = await repo.readChunk(db, importId, seq);
      if (!data) return;
      yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    }
  }

  async function run(job: repo.ImportJobRow): Promise<void> {
    let lost = false;
    const renew = (counts?: { read: number; failed: number }) =>
      repo.renewLease(db, job.id, owner, now(), leaseMs, counts).then((held) => {
        if (!held) lost = true;
      });
    // The merge of a large import is one long statement: the lease is kept alive beside it.
    const heartbeat = setInterval(() => void renew().catch((error) => logger.warn({ err: error, importId: job.id }, 'extending an import lease failed')), leaseMs / 3);
    heartbeat.unref();
    let lastWrite = -Infinity;
    try {
      const rows = rowsFor(job.content_type, Readable.from(storedBody(job.id), { objectMode: false }));
      if (!rows) throw new DomainError('unsupported_media_type', 'unsupported_media_type', `unsupported content type ${job.content_type}`);
      const result = await runImport(job.key_id, rows, await openStaging(db, deps.engine, deps.pool), MAX_IMPORT_ROWS, async (counts) => {
        if (lost) throw new LeaseLost();
        // On PGlite the database runs on this thread and its answers come as microtasks: without a turn
        // of the event loop here, the API (polling this very job) would wait for the whole import.
        await setImmediate();
        const at = now().getTime();
        if (at - lastWrite < PROGRESS_MS) return;
        lastWrite = at;
        await renew(counts);
      });
      if (!(await repo.finish(db, job.id, owner, { status: 'completed', rowsRead: job.rows_total, result }, now()))) {
        logger.warn({ importId: job.id }, 'an import finished after another worker took it over');
      }
    } catch (error) {
      if (error instanceof LeaseLost) {
        logger.warn({ importId: job.id }, 'an import lease was lost; another worker runs it');
      } else if (error instanceof DomainError) {
        await repo.finish(db, job.id, owner, { status: 'failed', error: { code: error.code, message: error.message } }, now());
      } else if (job.attempts >= MAX_ATTEMPTS) {
        logger.error({ err: error, importId: job.id }, 'an import failed for good');
        await repo.finish(db, job.id, owner, { status: 'failed', error: { code: 'import_failed', message: `the import failed ${job.attempts} times: ${(error as Error).message}` } }, now());
      } else {
        logger.error({ err: error, importId: job.id }, 'an import round failed; it is retried');
        const at = now();
        await repo.retryLater(db, job.id, owner, new Date(at.getTime() + RETRY_BASE_MS * job.attempts), at);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  return {
    name: 'contact-import',
    async runOnce() {
      const at = now();
      const discarded = await repo.discardAbandoned(db, new Date(at.getTime() - ABANDONED_MS));
      const job = await repo.claimDue(db, owner, at, leaseMs);
      if (!job) return discarded;
      await run(job);
      return discarded + 1;
    },
  };
}
