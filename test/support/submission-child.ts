// A submission listener process for the crash test: the SMTP relay alone on the PostgreSQL database of
// DATABASE_URL, plain AUTH allowed on loopback, on SUBMISSION_PORT. Prints "ready" once listening.
import { createContext, createLogger } from '../../src/composition.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { startSubmissionListener } from '../../src/modules/submission/listener.ts';

const env = process.env;
const database = await openDatabase({ databaseUrl: env.DATABASE_URL!, dataDir: null, poolSize: 4 });
const config = loadConfig({ MAILERDASH_HOSTNAME: 'relay.test', MAILERDASH_DNS_SERVERS: env.DNS_SERVERS });
const logger = createLogger(env.TEST_LOG_LEVEL ?? 'silent');
const context = createContext(config, database, logger);
const listener = await startSubmissionListener({
  service: context.services.submission,
  logger,
  hostname: 'relay.test',
  port: Number(env.SUBMISSION_PORT),
  host: '127.0.0.1',
  sizeLimit: config.bodyLimitBytes,
  tls: null,
  plaintextLoopback: true,
});
process.once('SIGTERM', async () => {
  await listener.close();
  await database.close();
  process.exit(0);
});
console.log('ready');
