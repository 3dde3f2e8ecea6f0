import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createContext, createLogger, type AppContext } from '../../src/composition.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { buildApi } from '../../src/http/app.ts';
import { createWorkerRunner, type WorkerRunner } from '../../src/workers/runner.ts';
import type { TestEngine } from './engines.ts';

export const ADMIN_SECRET = 'md_test_admin_secret_0123456789abcdef';

export interface Harness {
  app: FastifyInstance;
  context: AppContext;
  database: Database;
  config: Config;
  workers: WorkerRunner;
  /** inject() with the admin key unless `auth` says otherwise (null: no Authorization header). */
  call(options: InjectOptions & { auth?: string | null }): Promise<LightMyRequestResponse>;
  /** A new non-admin key with the given operator-verified domains; returns its id and secret. */
  newKey(name: string, domains?: string[]): Promise<{ id: string; secret: string }>;
  close(): Promise<void>;
}

/** A whole MailerDash (API + workers, not listening) on a fresh database of the given engine. */
export async function startHarness(
  engine: TestEngine,
  env: Record<string, string> = {},
  options: Parameters<typeof createContext>[3] = {},
  extra: { logger?: ReturnType<typeof createLogger> } = {},
): Promise<Harness> {
  const database = await engine.open();
  // The outbox transport writes under the data directory: keep each suite's files out of the checkout.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-test-'));
  // A public URL that is not localhost, so campaigns send without the local-links override (a test of it sets its own).
  const config = loadConfig({ MAILERDASH_ADMIN_KEY: ADMIN_SECRET, MAILERDASH_HOSTNAME: 'mta.test', MAILERDASH_PUBLIC_URL: 'https://links.test', MAILERDASH_DATA_DIR: dataDir, ...env });
  const logger = extra.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const context = createContext(config, database, logger, options);
  await context.services.keys.ensureAdminKey(ADMIN_SECRET);
  const app = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping, metricsToken: config.metricsToken });
  const workers = createWorkerRunner({ jobs: context.jobs, pollMs: config.workerPollMs, logger });
  return {
    app,
    context,
    database,
    config,
    workers,
    call({ auth, ...options }) {
      const token = auth === undefined ? ADMIN_SECRET : auth;
      const headers = { ...(options.headers ?? {}), ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
      return app.inject({ ...options, headers });
    },
    async newKey(name, domains = []) {
      const { key, secret } = await context.services.keys.createKey({ name, domains });
      return { id: key.id, secret };
    },
    async close() {
      await workers.stop();
      await app.close();
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
