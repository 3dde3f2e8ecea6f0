import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { DB } from '../db/schema.ts';
import { createSigningPool, type SigningPool } from '../delivery/dkim-pool.ts';
import type { DkimKey, RsaSigner } from '../delivery/dkim.ts';
import { createHandOff, handOffCapacity, type HandOff } from '../delivery/hand-off.ts';
import type { MessageLinks } from '../delivery/links.ts';
import type { DeliveryObserver } from '../delivery/observer.ts';
import { createProviderSet, singleProvider, type ProviderConfig, type ProviderSet } from '../delivery/providers.ts';
import type { MessageRouter } from '../delivery/routing.ts';
import type { Transport } from '../delivery/transport.ts';
import { createSendJob } from './send-job.ts';
import type { ErasedAddressHasher } from '../modules/suppressions/erased.ts';

/**
 * The providers the configuration names (MAILERDASH_PROVIDERS). Without them, one default provider:
 * the relay of MAILERDASH_SMTP_URL (named "smtp"), else the outbox directory (named "outbox").
 */
export function providersFromConfig(config: Config): ProviderSet {
  const context = { hostname: config.hostname, dataDir: config.dataDir, smtpConnections: config.smtpConnections ?? Math.max(4, Math.min(32, config.bulkConcurrency)) };
  const { providers, defaultName } = providerConfigsOf(config);
  return createProviderSet(providers, defaultName, context);
}

/** The providers mail goes to and the default one; `fallback` when it is the outbox because no relay is set. */
export function providerConfigsOf(config: Config): { providers: Record<string, ProviderConfig>; defaultName: string; fallback: boolean } {
  if (config.providers) return { providers: config.providers, defaultName: config.defaultProvider ?? Object.keys(config.providers)[0]!, fallback: false };
  if (config.smtpUrl) return { providers: { smtp: { type: 'smtp', url: config.smtpUrl } }, defaultName: 'smtp', fallback: false };
  return { providers: { outbox: { type: 'outbox', dir: path.join(config.dataDir, 'outbox') } }, defaultName: 'outbox', fallback: true };
}

/** The hand-off between this process's campaign dispatcher and its delivery job, sized to the bulk rate. */
export function handOffFromConfig(config: Config): HandOff {
  return createHandOff({ capacity: handOffCapacity(config.bulkRate, config.sendLeaseMs), leaseMs: config.sendLeaseMs });
}

/** Worker threads start on the first signature, so API-only processes and idle workers never spawn them. */
function lazySigner(): { sign: RsaSigner; close(): Promise<void> } {
  let pool: SigningPool | null = null;
  return {
    sign: (pem, data) => (pool ??= createSigningPool()).sign(pem, data),
    close: async () => {
      await pool?.close();
      pool = null;
    },
  };
}

export function createDeliveryJob(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  signingKeyFor: (keyId: string, fromAddress: string) => Promise<DkimKey | null>;
  links?: MessageLinks & { ready?: () => Promise<void> };
  /** Instead of the configured providers: one transport, or a set of named ones. */
  transport?: Transport;
  providers?: ProviderSet;
  router?: MessageRouter;
  handOff?: HandOff;
  observer?: DeliveryObserver;
  erased?: ErasedAddressHasher;
}) {
  const { config } = deps;
  const signer = lazySigner();
  const job = createSendJob({
    db: deps.db,
    providers: deps.providers ?? (deps.transport ? singleProvider(deps.transport) : providersFromConfig(config)),
    logger: deps.logger,
    hostname: config.hostname,
    bounceDomain: config.bounceDomain,
    signingKeyFor: deps.signingKeyFor,
    signer: signer.sign,
    links: deps.links,
    linksReady: deps.links?.ready,
    erased: deps.erased,
    handOff: deps.handOff,
    router: deps.router,
    bulkRate: config.bulkRate,
    bulkConcurrency: config.bulkConcurrency,
    leaseMs: config.sendLeaseMs,
    observer: deps.observer,
  });
  return {
    ...job,
    async close() {
      await job.close();
      await signer.close();
    },
  };
}
