// A worker process for the webhook crash tests: the delivery job alone, on the PostgreSQL
// database of DATABASE_URL, sending to loopback (127.0.0.1 allowed). Signing secrets are opened with the
// sealed box built as composition.ts builds it (from MAILERDASH_SECRET, or the settings row when unset),
// so it reads what the API sealed. Prints "ready" once running; SIGTERM stops it gracefully.
import pino from 'pino';
import { openDatabase } from '../../src/db/database.ts';
import { createSealedBox } from '../../src/lib/sealed-box.ts';
import { createOutboundGuard } from '../../src/lib/ssrf.ts';
import { loadLinkSecret } from '../../src/modules/tracking/links.ts';
import { createWebhookSender } from '../../src/modules/webhooks/sender.ts';
import { createWebhookDeliveryJob } from '../../src/workers/webhook-delivery.ts';
import { serveJobs } from './worker-child.ts';

const env = process.env;
const concurrency = Number(env.CONCURRENCY ?? 8);
const database = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: null, poolSize: 6 });
const { db } = database;
const logger = pino({ level: env.TEST_LOG_LEVEL ?? 'silent' });

const serverSecret = (() => {
  let loading: Promise<string> | null = null;
  return () => (loading ??= loadLinkSecret(db, env.MAILERDASH_SECRET || null).catch((error) => ((loading = null), Promise.reject(error))));
})();
const secrets = createSealedBox(serverSecret, 'webhook-signing-secrets');

const jobs = [
  createWebhookDeliveryJob({
    db,
    logger,
    secrets,
    sender: createWebhookSender({ guard: createOutboundGuard({ allowHosts: ['127.0.0.1'] }), connectionsPerOrigin: concurrency }),
    concurrency,
  }),
];
serveJobs(jobs, database, logger, Number(env.POLL_MS ?? 20));
