// A worker process for the sequence crash test: the sequence scheduler (and, with SEND=1, the context's
// send job into MAILERDASH_SMTP_URL) on the PostgreSQL database of DATABASE_URL. With HOLD_AFTER=n it
// commits n chunks, then stops inside the next chunk's transaction (its subscribers claimed and their
// messages made, not committed) and prints "holding": the test kills it there with SIGKILL.
// Prints "ready" once running; SIGTERM stops it gracefully.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createContext, createLogger } from '../../src/composition.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { createWorkerRunner, type Job } from '../../src/workers/runner.ts';
import { chunkConcurrencyFor, createSequenceScheduler } from '../../src/workers/sequence-scheduler.ts';

const env = process.env;
const config = loadConfig({
  MAILERDASH_ADMIN_KEY: env.MAILERDASH_ADMIN_KEY!,
  MAILERDASH_HOSTNAME: 'mta.test',
  MAILERDASH_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'mailerdash-seq-child-')),
  MAILERDASH_SMTP_URL: env.MAILERDASH_SMTP_URL!,
  MAILERDASH_SECRET: env.MAILERDASH_SECRET!,
  MAILERDASH_PUBLIC_URL: 'https://links.test',
  MAILERDASH_BOUNCE_DOMAIN: 'bounce.test',
});
const database = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: null, poolSize: 6 });
const logger = createLogger(env.TEST_LOG_LEVEL ?? 'silent');
const context = createContext(config, database, logger);

const holdAfter = env.HOLD_AFTER === undefined ? Infinity : Number(env.HOLD_AFTER);
let committed = 0;
let wake = () => {};
const jobs: Job[] = [
  createSequenceScheduler({
    db: database.db,
    logger,
    batchSize: Number(env.BATCH ?? 500),
    concurrency: chunkConcurrencyFor(database.engine),
    onQueued: () => wake(),
    async beforeCommit() {
      if (committed++ < holdAfter) return;
      console.log('holding');
      await new Promise(() => {});
    },
  }),
];
if (env.SEND === '1') jobs.push(context.jobs.find((job) => job.name === 'send')!);
const runner = createWorkerRunner({ jobs, pollMs: 20, logger });
wake = () => runner.wake();
runner.start();
process.once('SIGTERM', async () => {
  await runner.stop();
  for (const job of jobs) await job.close?.();
  await database.close();
  process.exit(0);
});
console.log('ready');
