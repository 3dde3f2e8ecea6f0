import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { DB } from '../db/schema.ts';
import { createSigningPool, type SigningPool } from '../delivery/dkim-pool.ts';
import type { DkimKey, RsaSigner } from '../delivery/dkim.ts';
import { createHandOff, handOffCapacity, type HandOff } from '../delivery/hand-off.ts';
import type { MessageLinks } from '../delivery/links.ts';
import { createOutboxTransport } from '../delivery/outbox-transport.ts';
import { createSmtpTransport } from '../delivery/smtp-transport.ts';
import type { Transport } from '../delivery/transport.ts';
import { createSendJob } from './send-job.ts';

/** The transport the configuration names: the relay of MAILERDASH_SMTP_URL, else the outbox directory. */
export function transportFromConfig(config: Config): Transport {
  if (config.smtpUrl) {
    return createSmtpTransport({ url: config.smtpUrl, clientName: config.hostname, maxConnections: config.smtpConnections ?? Math.max(4, Math.min(32, config.bulkConcurrency)) });
  }
  return createOutboxTransport(path.join(config.dataDir, 'outbox'));
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
  transport?: Transport;
  handOff?: HandOff;
}) {
  const { config } = deps;
  const signer = lazySigner();
  const job = createSendJob({
    db: deps.db,
    transport: deps.transport ?? transportFromConfig(config),
    logger: deps.logger,
    hostname: config.hostname,
    bounceDomain: config.bounceDomain,
    signingKeyFor: deps.signingKeyFor,
    signer: signer.sign,
    links: deps.links,
    linksReady: deps.links?.ready,
    handOff: deps.handOff,
    bulkRate: config.bulkRate,
    bulkConcurrency: config.bulkConcurrency,
    leaseMs: config.sendLeaseMs,
  });
  return {
    ...job,
    async close() {
      await job.close();
      await signer.close();
    },
  };
}
