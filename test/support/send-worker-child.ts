// A worker process for the crash and hourly cap tests: the send job alone, on the PostgreSQL database of
// DATABASE_URL. With SMTP_URL it sends there; with SMTP_A_URL and SMTP_B_URL it routes batch messages
// between the two (providers smtp-a, smtp-b) on a clock fixed at NOW. Prints "ready" once running;
// SIGTERM stops it gracefully.
import pino from 'pino';
import { openDatabase } from '../../src/db/database.ts';
import { providerSetOf } from '../../src/delivery/providers.ts';
import { createSmtpTransport } from '../../src/delivery/smtp/transport.ts';
import { createBatchRouter } from '../../src/modules/batches/router.ts';
import { createSendJob } from '../../src/workers/send-job.ts';
import { serveJobs } from './worker-child.ts';

const env = process.env;
const database = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: null, poolSize: 4 });
const logger = pino({ level: env.TEST_LOG_LEVEL ?? 'silent' });
const smtp = (url: string, maxConnections: number) => createSmtpTransport({ url, clientName: 'worker.test', maxConnections });
const common = { db: database.db, logger, hostname: 'worker.test', bounceDomain: 'bounce.test', bulkRate: 0 };
const job = env.SMTP_A_URL
  ? createSendJob({
      ...common,
      providers: providerSetOf({ 'smtp-a': smtp(env.SMTP_A_URL, 2), 'smtp-b': smtp(env.SMTP_B_URL!, 2) }, 'smtp-a'),
      router: createBatchRouter({ db: database.db, defaultProvider: 'smtp-a' }),
      bulkConcurrency: 4,
      batchSize: 20,
      now: () => new Date(env.NOW!),
    })
  : createSendJob({
      ...common,
      transport: smtp(env.SMTP_URL!, 4),
      bulkConcurrency: 8,
      transConcurrency: 8,
      batchSize: Number(env.BATCH_SIZE ?? 50),
      leaseMs: Number(env.LEASE_MS ?? 120_000),
    });
serveJobs([job], database, logger);
