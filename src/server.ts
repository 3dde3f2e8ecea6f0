import type { FastifyInstance } from 'fastify';
import { createContext, createLogger, type AppContext } from './composition.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { buildApi } from './http/app.ts';
import { startSubmissionListener, type SubmissionListener } from './modules/submission/listener.ts';
import { createWorkerRunner, type WorkerRunner } from './workers/runner.ts';
import type { InboundListener } from './modules/inbound/listener.ts';
import type { SetupCheck } from './modules/status/setup-checks.ts';
import { clearServerUrl, readServerFile, writeServerFile } from './cli/server-file.ts';

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
  opening: Promise<Database> = openConfiguredDatabase(config),
): Promise<RunningProcess> {
  const logger = createLogger(config.logLevel);
  const database = await opening;
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
  const opened: Array<() => Promise<unknown>> = [];
  const giveUp = async (error: unknown): Promise<never> => {
    // A listener that cannot bind ends the start: what is open closes so the process exits with the error.
    for (const close of opened.reverse()) await close().catch(() => {});
    await database.close().catch(() => {});
    throw error;
  };
  let api: FastifyInstance | null = null;
  let submission: SubmissionListener | null = null;
  let inbound: RunningProcess['inbound'] = null;
  try {
    if (roles.api) {
      api = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping, metricsToken: config.metricsToken });
      opened.push(() => api!.close());
      await bound('PORT', config.port, config.host, () => api!.listen({ port: config.port, host: config.host }));
    }
    if (roles.submission) {
      submission = await bound('MAILERDASH_SUBMISSION_PORT', config.submissionPort, config.host, () => startSubmission(config, context));
      opened.push(() => submission!.close());
    }
    if (roles.inbound) {
      const listener = context.createInboundListener();
      inbound = { listener, port: await bound('MAILERDASH_INBOUND_PORT', config.inboundPort, config.inboundHost, () => listener.listen(config.inboundPort, config.inboundHost)) };
    }
  } catch (error) {
    return giveUp(error);
  }
  if (api && database.engine === 'pglite') await leaveServerFile(config, context, api);
  if (roles.api || roles.workers) warnAboutSetup(context, print);
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
        if (api && database.engine === 'pglite') clearServerUrl(config.dataDir, process.pid);
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

/** The CLI's way in while this process holds the embedded database: URL and an admin key (reused across starts). */
async function leaveServerFile(config: Config, context: AppContext, api: FastifyInstance): Promise<void> {
  const address = api.server.address();
  if (!address || typeof address === 'string') return;
  const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const previous = readServerFile(config.dataDir);
  const reusable = previous?.key ? await context.services.keys.authenticate(previous.key) : null;
  const key = reusable?.admin ? previous!.key : (await context.services.keys.createKey({ name: 'cli (local server)', admin: true, domains: [] })).secret;
  writeServerFile(config.dataDir, { url: `http://${host}:${address.port}`, pid: process.pid, key });
}

/** A port that cannot be bound: the error names the variable that chose it. */
export class ListenError extends Error {
  constructor(
    readonly variable: string,
    port: number,
    host: string,
    cause: NodeJS.ErrnoException,
  ) {
    const why = cause.code === 'EADDRINUSE' ? 'is already in use' : cause.code === 'EACCES' ? 'needs privileges this process lacks' : `cannot be opened (${cause.code ?? cause.message})`;
    super(`${variable}: port ${port} on ${host} ${why}; stop what holds it or set ${variable} to a free port (0 picks one)`);
    this.name = 'ListenError';
  }
}

async function bound<T>(variable: string, port: number, host: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new ListenError(variable, port, host, error as NodeJS.ErrnoException);
    throw error;
  }
}

/** Every setting that will hurt real mail, loudly: a warn log line each, and a block on the output. */
function warnAboutSetup(context: AppContext, print: (line: string) => void): void {
  const warn = (checks: SetupCheck[]) => {
    for (const check of checks) context.logger.warn({ setup: check.code, variable: check.variable, fix: check.fix }, check.message);
    if (checks.length) print(`\nSetup problems that will hurt real mail (also in GET /v1/status):\n${checks.map((c) => `  ! ${c.variable}: ${c.message}.\n    Fix: ${c.fix}.`).join('\n')}\n`);
  };
  warn(context.services.status.startChecks());
  context.services.status.bounceDomainCheck().then(
    (check) => warn(check ? [check] : []),
    (error) => context.logger.debug({ err: error }, 'bounce domain MX check failed'),
  );
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
