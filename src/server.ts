import type { FastifyInstance } from 'fastify';
import { createContext, createLogger, type AppContext } from './composition.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { buildApi } from './http/app.ts';
import { startSubmissionListener, type SubmissionListener } from './modules/submission/listener.ts';
import { createWorkerRunner, type WorkerRunner } from './workers/runner.ts';
import type { InboundListener } from './modules/inbound/listener.ts';

export interface RunningProcess {
  context: AppContext;
  api: FastifyInstance | null;
  workers: WorkerRunner | null;
  submission: SubmissionListener | null;
  /** The inbound SMTP listener and its port, when this process runs it. */
  inbound: { listener: InboundListener; port: number } | null;
  /** Stops taking work, lets in-flight work finish, closes the database. */
  shutdown(): Promise<void>;
}

export async function openConfiguredDatabase(config: Config): Promise<Database> {
  return openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
}

/**
 * `start` runs the API, every worker, the SMTP submission relay and the inbound listener in one
 * process; `api`, `worker`, `submission` and `inbound` run one part each (`inbound`: the listener and
 * the job that processes what it stored).
 */
export async function runProcess(
  config: Config,
  roles: { api: boolean; workers: boolean; submission?: boolean; inbound?: boolean },
  print = (line: string) => console.log(line),
): Promise<RunningProcess> {
  const logger = createLogger(config.logLevel);
  const database = await openConfiguredDatabase(config);
  const { applied } = await migrateToLatest(database.db);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  const context = createContext(config, database, logger);

  if (roles.api) {
    const bootstrap = await context.services.keys.ensureAdminKey(config.adminKey);
    if (bootstrap?.secret) {
      print(`\nCreated the first admin API key (${bootstrap.created.id}). It is shown this once; keep it:\n\n    ${bootstrap.secret}\n`);
    }
  }

  const jobs = roles.workers ? context.jobs : roles.inbound ? context.jobs.filter((job) => job.name === 'inbound-reports') : [];
  const workers = jobs.length ? createWorkerRunner({ jobs, pollMs: config.workerPollMs, logger }) : null;
  if (workers) context.onQueued(() => workers.wake());
  const api = roles.api ? await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping }) : null;
  if (api) await api.listen({ port: config.port, host: config.host });
  const submission = roles.submission ? await startSubmission(config, context) : null;
  let inbound: RunningProcess['inbound'] = null;
  if (roles.inbound) {
    const listener = context.createInboundListener();
    inbound = { listener, port: await listener.listen(config.inboundPort, config.inboundHost) };
  }
  workers?.start();
  logger.info({ engine: database.engine, api: Boolean(api), submission: submission?.port ?? null, inboundPort: inbound?.port ?? null, workers: jobs.map((j) => j.name) }, 'mailerdash started');

  let closing: Promise<void> | null = null;
  return {
    context,
    api,
    workers,
    submission,
    inbound,
    shutdown() {
      closing ??= (async () => {
        if (submission) await submission.close();
        if (inbound) await inbound.listener.close();
        if (api) await api.close();
        if (workers) await workers.stop();
        await database.close();
        logger.info('mailerdash stopped');
      })();
      return closing;
    },
  };
}

function startSubmission(config: Config, context: AppContext): Promise<SubmissionListener> {
  return startSubmissionListener({
    service: context.services.submission,
    logger: context.logger,
    hostname: config.hostname,
    port: config.submissionPort,
    host: config.host,
    sizeLimit: config.bodyLimitBytes,
    tls: config.tlsCert && config.tlsKey ? { certPath: config.tlsCert, keyPath: config.tlsKey } : null,
    implicitTls: config.submissionImplicitTls,
    plaintextLoopback: config.submissionPlaintextLoopback,
  });
}

export function stopOnSignals(running: RunningProcess): void {
  const stop = (signal: string) => {
    running.context.logger.info({ signal }, 'shutting down');
    running.shutdown().then(
      () => process.exit(0),
      (error) => {
        running.context.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
