// A worker process for the crash test: the send job alone, on the PostgreSQL database of DATABASE_URL,
// sending to SMTP_URL. Prints "ready" once running; SIGTERM stops it gracefully.
import pino from 'pino';
import { openDatabase } from '../../src/db/database.ts';
import { createSmtpTransport } from '../../src/delivery/smtp/transport.ts';
import { createSendJob } from '../../src/workers/send-job.ts';
import { createWorkerRunner } from '../../src/workers/runner.ts';

const env = process.env;
const database = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: null, poolSize: 4 });
const logger = pino({ level: env.TEST_LOG_LEVEL ?? 'silent' });
const job = createSendJob({
  db: database.db,
  transport: createSmtpTransport({ url: env.SMTP_URL!, clientName: 'worker.test', maxConnections: 4 }),
  logger,
  hostname: 'worker.test',
  bounceDomain: 'bounce.test',
  bulkRate: 0,
  bulkConcurrency: 8,
  transConcurrency: 8,
  batchSize: Number(env.BATCH_SIZE ?? 50),
  leaseMs: Number(env.LEASE_MS ?? 120_000),
});
const runner = createWorkerRunner({ jobs: [job], pollMs: 20, logger });
runner.start();
process.once('SIGTERM', async () => {
  await runner.stop();
  await database.close();
  process.exit(0);
});
console.log('ready');
