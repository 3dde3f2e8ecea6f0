// A worker process for the hourly cap test: the send job with the batch router, on the PostgreSQL
// database of DATABASE_URL, routing between two SMTP servers (SMTP_A_URL, SMTP_B_URL) on a clock fixed
// at NOW. Prints "ready" once running; SIGTERM stops it gracefully.
import pino from 'pino';
import { openDatabase } from '../../src/db/database.ts';
import { providerSetOf } from '../../src/delivery/providers.ts';
import { createSmtpTransport } from '../../src/delivery/smtp/transport.ts';
import { createBatchRouter } from '../../src/modules/batches/router.ts';
import { createSendJob } from '../../src/workers/send-job.ts';
import { createWorkerRunner } from '../../src/workers/runner.ts';

const env = process.env;
const now = () => new Date(env.NOW!);
const database = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: null, poolSize: 4 });
const logger = pino({ level: env.TEST_LOG_LEVEL ?? 'silent' });
const providers = providerSetOf(
  {
    'smtp-a': createSmtpTransport({ url: env.SMTP_A_URL!, clientName: 'worker.test', maxConnections: 2 }),
    'smtp-b': createSmtpTransport({ url: env.SMTP_B_URL!, clientName: 'worker.test', maxConnections: 2 }),
  },
  'smtp-a',
);
const job = createSendJob({
  db: database.db,
  providers,
  router: createBatchRouter({ db: database.db, defaultProvider: 'smtp-a' }),
  logger,
  hostname: 'worker.test',
  bounceDomain: 'bounce.test',
  bulkRate: 0,
  bulkConcurrency: 4,
  batchSize: 20,
  now,
});
const runner = createWorkerRunner({ jobs: [job], pollMs: 20, logger });
runner.start();
process.once('SIGTERM', async () => {
  await runner.stop();
  await database.close();
  process.exit(0);
});
console.log('ready');
