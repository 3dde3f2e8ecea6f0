import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { createMetricsRegistry } from './http/metrics.ts';
import { createResolver } from './lib/dns.ts';
import { createDomainsService, type DomainsService } from './modules/domains/service.ts';
import { createKeysService, type KeysService } from './modules/keys/service.ts';
import { createSuppressionsService, type SuppressionsService } from './modules/suppressions/service.ts';
import type { Job } from './workers/runner.ts';

/**
 * The composition root: the one place where every service is built and handed its dependencies.
 * The API and the workers are built from the same context, so one process or many is a deployment choice.
 */
export interface Services {
  keys: KeysService;
  domains: DomainsService;
  suppressions: SuppressionsService;
}

export interface AppContext {
  config: Config;
  database: Database;
  logger: Logger;
  metrics: Registry;
  services: Services;
  /** Background jobs, each claiming its own kind of due rows. */
  jobs: Job[];
}

export function createLogger(level: string): Logger {
  return pino({ level, redact: ['req.headers.authorization', '*.secret', '*.key', '*.password'] });
}

export function createContext(config: Config, database: Database, logger: Logger = createLogger(config.logLevel)): AppContext {
  const { db } = database;
  const resolver = createResolver(config.dnsServers);
  const domains = createDomainsService({
    db,
    resolver,
    dkimSelector: config.dkimSelector,
    sendingHost: config.hostname,
    bounceDomain: config.bounceDomain,
  });
  const keys = createKeysService({ db, attachDomains: (trx, keyId, names) => domains.attachOperatorVerified(trx, keyId, names) });
  const suppressions = createSuppressionsService({ db });
  const services: Services = { keys, domains, suppressions };
  const jobs: Job[] = [];
  return { config, database, logger, metrics: createMetricsRegistry(), services, jobs };
}
