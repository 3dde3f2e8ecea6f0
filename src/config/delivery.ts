import { bounceDomainOf, ConfigError, integer, optional, specsOf, url } from './parsers.ts';

/** Outgoing mail: the relay or outbox, the bounce domain, bulk pacing, leases, DKIM. */
export interface DeliveryConfig {
  smtpUrl: string | null;
  bounceDomain: string;
  bulkRate: number;
  bulkConcurrency: number;
  smtpConnections: number | null;
  sendLeaseMs: number;
  dkimSelector: string;
}

const spec = specsOf<DeliveryConfig>();

export const DELIVERY_VARIABLES = [
  spec({
    name: 'MAILERDASH_SMTP_URL',
    key: 'smtpUrl',
    defaultText: '(unset: outbox)',
    description: 'smtp://user:pass@relay:587 (STARTTLS) or smtps://... relay. Unset: messages are written as .eml files under $MAILERDASH_DATA_DIR/outbox.',
    parse: url('MAILERDASH_SMTP_URL', ['smtp:', 'smtps:']),
  }),
  spec({
    name: 'MAILERDASH_BOUNCE_DOMAIN',
    key: 'bounceDomain',
    defaultText: '$MAILERDASH_HOSTNAME',
    description: 'Domain of the VERP envelope sender (Return-Path) that bounces come back to.',
    parse: (_raw, env) => bounceDomainOf(env),
  }),
  spec({
    name: 'MAILERDASH_BULK_RATE',
    key: 'bulkRate',
    defaultText: '0 (unlimited)',
    description: 'Most bulk messages per second each worker process hands to the transport.',
    parse: integer('MAILERDASH_BULK_RATE', 0, 0, 1_000_000),
  }),
  spec({
    name: 'MAILERDASH_BULK_CONCURRENCY',
    key: 'bulkConcurrency',
    defaultText: '8',
    description: 'Most bulk messages in flight at once per worker process.',
    parse: integer('MAILERDASH_BULK_CONCURRENCY', 8, 1, 1000),
  }),
  spec({
    name: 'MAILERDASH_SMTP_CONNECTIONS',
    key: 'smtpConnections',
    defaultText: '(unset: MAILERDASH_BULK_CONCURRENCY, between 4 and 32)',
    description: 'Most connections each worker process keeps open to the relay. A relay that offers PIPELINING takes up to 4 messages queued on each.',
    parse: (raw) => (optional(raw) === null ? null : integer('MAILERDASH_SMTP_CONNECTIONS', 0, 1, 1000)(raw)),
  }),
  spec({
    name: 'MAILERDASH_SEND_LEASE_SECONDS',
    key: 'sendLeaseMs',
    defaultText: '30',
    description: 'How long a sender holds a claimed message; a live sender renews it, so a dead one\'s messages are taken over within this time.',
    parse: (raw) => integer('MAILERDASH_SEND_LEASE_SECONDS', 30, 2, 3600)(raw) * 1000,
  }),
  spec({
    name: 'MAILERDASH_DKIM_SELECTOR',
    key: 'dkimSelector',
    defaultText: 'mailerdash',
    description: 'DKIM selector of newly added sending domains.',
    parse: (raw) => {
      const value = optional(raw) ?? 'mailerdash';
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/i.test(value)) throw new ConfigError('MAILERDASH_DKIM_SELECTOR', 'must be a DNS label');
      return value;
    },
  }),
] as const;
