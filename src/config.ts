import { readFileSync } from 'node:fs';
import { SNS_HOST_PATTERN } from './modules/provider-events/signatures.ts';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProviderConfigError, validateProviders, type ProviderConfig } from './delivery/providers.ts';

/**
 * Every configuration variable, read and validated once at start.
 * The README's configuration table lists exactly these names (a test checks it).
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  adminKey: string | null;
  logLevel: string;
  bodyLimitBytes: number;
  publicUrl: string;
  hostname: string;
  dnsServers: string[];
  smtpUrl: string | null;
  bounceDomain: string;
  bulkRate: number;
  bulkConcurrency: number;
  smtpConnections: number | null;
  sendLeaseMs: number;
  secret: string | null;
  workerPollMs: number;
  dkimSelector: string;
  webhookAllowHosts: string[];
  /** SNS SigningCertURL and SubscribeURL must match it. */
  snsUrlPattern: RegExp;
  webhookConcurrency: number;
  submissionPort: number;
  tlsCert: string | null;
  tlsKey: string | null;
  submissionImplicitTls: boolean;
  submissionPlaintextLoopback: boolean;
  submissionRate: number;
  // Inbound feedback loop (src/modules/inbound).
  inboundPort: number;
  inboundHost: string;
  inboundMaxBytes: number;
  inboundMaxClients: number;
  inboundRatePerMinute: number;
  inboundTlsCert: string | null;
  inboundTlsKey: string | null;
  fblAddress: string;
  softBounceLimit: number;
  softBounceWindowDays: number;
  /** Retention (issue 16): the message log's age limit in days, and content's (never longer). */
  retentionDays: number;
  contentRetentionDays: number;
  /** Rows one retention statement removes at most. */
  retentionBatch: number;
  /** Named providers (MAILERDASH_PROVIDERS); null: the one provider of MAILERDASH_SMTP_URL or the outbox. */
  providers: Record<string, ProviderConfig> | null;
  defaultProvider: string | null;
  /** The dashboard (src/modules/ui): built assets served at /ui, and how long a sign-in lasts. */
  uiDir: string;
  uiSessionMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

interface VariableSpec<K extends keyof Config> {
  name: string;
  key: K;
  description: string;
  defaultText: string;
  parse(raw: string | undefined, env: Env): Config[K];
}

function integer(name: string, fallback: number, min: number, max: number) {
  return (raw: string | undefined): number => {
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function boolean(name: string) {
  return (raw: string | undefined): boolean => {
    if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
    if (raw === 'true' || raw === '1') return true;
    throw new ConfigError(name, `must be true or false, got "${raw}"`);
  };
}

function optional(raw: string | undefined): string | null {
  return raw === undefined || raw === '' ? null : raw;
}

function url(name: string, protocols: string[]) {
  return (raw: string | undefined): string | null => {
    const value = optional(raw);
    if (value === null) return null;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ConfigError(name, `is not a valid URL`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
    }
    return value;
  };
}

const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function hostname(name: string, fallback: () => string) {
  return (raw: string | undefined): string => {
    const value = optional(raw) ?? fallback();
    if (!HOSTNAME_RE.test(value)) throw new ConfigError(name, `is not a valid host name: "${value}"`);
    return value.toLowerCase();
  };
}

function machineHostname(): string {
  return os.hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'localhost';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function spec<K extends keyof Config>(s: VariableSpec<K>): VariableSpec<K> {
  return s;
}

export const VARIABLES = [
  spec({ name: 'PORT', key: 'port', defaultText: '3000', description: 'HTTP port of the API.', parse: integer('PORT', 3000, 0, 65535) }),
  spec({ name: 'HOST', key: 'host', defaultText: '0.0.0.0', description: 'Address the API listens on.', parse: (raw) => optional(raw) ?? '0.0.0.0' }),
  spec({
    name: 'MAILERDASH_DATA_DIR',
    key: 'dataDir',
    defaultText: './data',
    description: 'Directory of the embedded PGlite database and the outbox (used when DATABASE_URL is unset).',
    parse: (raw) => path.resolve(optional(raw) ?? './data'),
  }),
  spec({
    name: 'DATABASE_URL',
    key: 'databaseUrl',
    defaultText: '(unset: embedded PGlite)',
    description: 'postgres://user:pass@host:5432/db switches storage to a PostgreSQL server.',
    parse: url('DATABASE_URL', ['postgres:', 'postgresql:']),
  }),
  spec({
    name: 'MAILERDASH_ADMIN_KEY',
    key: 'adminKey',
    defaultText: '(unset)',
    description: 'This exact secret becomes an admin API key (for automation); at least 32 characters. Unset: the first start creates one and prints it once.',
    parse: (raw) => {
      const value = optional(raw);
      if (value !== null && value.length < 32) throw new ConfigError('MAILERDASH_ADMIN_KEY', `must be at least 32 characters, got ${value.length}`);
      return value;
    },
  }),
  spec({
    name: 'LOG_LEVEL',
    key: 'logLevel',
    defaultText: 'info',
    description: `pino log level: ${LOG_LEVELS.join(', ')}.`,
    parse: (raw) => {
      const value = optional(raw) ?? 'info';
      if (!LOG_LEVELS.includes(value)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
      return value;
    },
  }),
  spec({
    name: 'MAILERDASH_BODY_LIMIT',
    key: 'bodyLimitBytes',
    defaultText: '31457280 (30 MB)',
    description: 'Largest accepted request body in bytes; larger bodies get 413.',
    parse: integer('MAILERDASH_BODY_LIMIT', 30 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  }),
  spec({
    name: 'MAILERDASH_PUBLIC_URL',
    key: 'publicUrl',
    defaultText: 'http://localhost:$PORT',
    description: 'Public base URL of this server, used in unsubscribe and tracking links.',
    parse: (raw, env) => {
      const value = url('MAILERDASH_PUBLIC_URL', ['http:', 'https:'])(raw);
      return (value ?? `http://localhost:${env.PORT || '3000'}`).replace(/\/+$/, '');
    },
  }),
  spec({
    name: 'MAILERDASH_HOSTNAME',
    key: 'hostname',
    defaultText: 'the machine host name',
    description: 'Name this server sends as (SMTP EHLO, Message-ID, SPF record).',
    parse: hostname('MAILERDASH_HOSTNAME', machineHostname),
  }),
  spec({
    name: 'MAILERDASH_DNS_SERVERS',
    key: 'dnsServers',
    defaultText: '(unset: the system resolver)',
    description: 'Comma-separated host:port list of DNS servers for MX lookups and domain verification.',
    parse: (raw) => {
      const value = optional(raw);
      if (value === null) return [];
      const servers = value.split(',').map((s) => s.trim()).filter(Boolean);
      for (const server of servers) {
        if (!/^(\[[0-9a-f:]+\]|[0-9a-z.-]+)(:\d{1,5})?$/i.test(server)) {
          throw new ConfigError('MAILERDASH_DNS_SERVERS', `"${server}" is not host or host:port`);
        }
      }
      return servers;
    },
  }),
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
    name: 'MAILERDASH_SECRET',
    key: 'secret',
    defaultText: '(unset: generated once and kept in the database)',
    description:
      "Server secret for signed links (unsubscribe, tracking), sealed secrets and the per-key salts of erased addresses' suppression hashes (changing it forgets those entries). At least 32 characters.",
    parse: (raw) => {
      const value = optional(raw);
      if (value !== null && value.length < 32) throw new ConfigError('MAILERDASH_SECRET', 'must be at least 32 characters');
      return value;
    },
  }),
  spec({
    name: 'MAILERDASH_WORKER_POLL_MS',
    key: 'workerPollMs',
    defaultText: '250',
    description: 'How long an idle worker waits before looking for due work again.',
    parse: integer('MAILERDASH_WORKER_POLL_MS', 250, 10, 60_000),
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
  spec({
    name: 'MAILERDASH_WEBHOOK_ALLOW_HOSTS',
    key: 'webhookAllowHosts',
    defaultText: '(unset: none)',
    description: 'Comma-separated host names or IP addresses that webhook URLs may reach over http and at private or loopback addresses (local development, tests).',
    parse: (raw) => (optional(raw) ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
  }),
  spec({
    name: 'MAILERDASH_WEBHOOK_CONCURRENCY',
    key: 'webhookConcurrency',
    defaultText: '16',
    description: 'Most webhook requests in flight at once to one endpoint from each worker process.',
    parse: integer('MAILERDASH_WEBHOOK_CONCURRENCY', 16, 1, 256),
  }),
  // SMTP submission (src/modules/submission).
  spec({
    name: 'MAILERDASH_SUBMISSION_PORT',
    key: 'submissionPort',
    defaultText: '2525',
    description: 'Port of the SMTP submission relay (`mailerdash start` and `mailerdash submission`). In production 587 (STARTTLS) or 465 (implicit TLS, with MAILERDASH_SUBMISSION_IMPLICIT_TLS).',
    parse: integer('MAILERDASH_SUBMISSION_PORT', 2525, 0, 65535),
  }),
  spec({
    name: 'MAILERDASH_TLS_CERT',
    key: 'tlsCert',
    defaultText: '(unset: no TLS)',
    description: 'PEM certificate (chain) file of the submission relay; read again when it changes.',
    parse: (raw) => optional(raw),
  }),
  spec({
    name: 'MAILERDASH_TLS_KEY',
    key: 'tlsKey',
    defaultText: '(unset: no TLS)',
    description: 'PEM private key file of MAILERDASH_TLS_CERT; read again when it changes.',
    parse: (raw, env) => {
      const value = optional(raw);
      if ((value === null) !== (optional(env.MAILERDASH_TLS_CERT) === null)) throw new ConfigError('MAILERDASH_TLS_KEY', 'MAILERDASH_TLS_CERT and MAILERDASH_TLS_KEY go together');
      return value;
    },
  }),
  spec({
    name: 'MAILERDASH_SUBMISSION_IMPLICIT_TLS',
    key: 'submissionImplicitTls',
    defaultText: 'false',
    description: 'true: TLS from the first byte (port 465) instead of STARTTLS; needs MAILERDASH_TLS_CERT.',
    parse: (raw, env) => {
      const value = boolean('MAILERDASH_SUBMISSION_IMPLICIT_TLS')(raw);
      if (value && optional(env.MAILERDASH_TLS_CERT) === null) throw new ConfigError('MAILERDASH_SUBMISSION_IMPLICIT_TLS', 'needs MAILERDASH_TLS_CERT and MAILERDASH_TLS_KEY');
      return value;
    },
  }),
  spec({
    name: 'MAILERDASH_SUBMISSION_PLAINTEXT_LOOPBACK',
    key: 'submissionPlaintextLoopback',
    defaultText: 'false',
    description: 'true: clients on loopback addresses may AUTH without TLS (local development). Everyone else must use TLS first.',
    parse: boolean('MAILERDASH_SUBMISSION_PLAINTEXT_LOOPBACK'),
  }),
  spec({
    name: 'MAILERDASH_SUBMISSION_RATE',
    key: 'submissionRate',
    defaultText: '0 (unlimited)',
    description: 'Most messages (one per recipient) each API key may submit over SMTP per minute, counted across every listener; more get 451 4.7.1.',
    parse: integer('MAILERDASH_SUBMISSION_RATE', 0, 0, 100_000_000),
  }),
  // Inbound feedback loop (src/modules/inbound).
  spec({ name: 'MAILERDASH_INBOUND_PORT', key: 'inboundPort', defaultText: '2526', description: 'SMTP port of the inbound listener (VERP bounces, ARF reports, mailto unsubscribes); 25 in production, 0 picks a free port.', parse: integer('MAILERDASH_INBOUND_PORT', 2526, 0, 65535) }),
  spec({ name: 'MAILERDASH_INBOUND_HOST', key: 'inboundHost', defaultText: '0.0.0.0', description: 'Address the inbound listener listens on.', parse: (raw) => optional(raw) ?? '0.0.0.0' }),
  spec({ name: 'MAILERDASH_INBOUND_MAX_BYTES', key: 'inboundMaxBytes', defaultText: '10485760 (10 MB)', description: 'Largest inbound mail in bytes; larger mail is refused with 552.', parse: integer('MAILERDASH_INBOUND_MAX_BYTES', 10 * 1024 * 1024, 1024, 100 * 1024 * 1024) }),
  spec({ name: 'MAILERDASH_INBOUND_MAX_CLIENTS', key: 'inboundMaxClients', defaultText: '100', description: 'Most SMTP connections the inbound listener holds at once; more get 421.', parse: integer('MAILERDASH_INBOUND_MAX_CLIENTS', 100, 1, 10_000) }),
  spec({ name: 'MAILERDASH_INBOUND_RATE', key: 'inboundRatePerMinute', defaultText: '600', description: 'Most inbound messages per minute from one client address (0 = unlimited); more get 450 4.7.0 at MAIL FROM.', parse: integer('MAILERDASH_INBOUND_RATE', 600, 0, 10_000_000) }),
  spec({ name: 'MAILERDASH_INBOUND_TLS_CERT', key: 'inboundTlsCert', defaultText: '(unset: no STARTTLS)', description: 'PEM certificate file; with MAILERDASH_INBOUND_TLS_KEY the inbound listener offers STARTTLS.', parse: optional }),
  spec({ name: 'MAILERDASH_INBOUND_TLS_KEY', key: 'inboundTlsKey', defaultText: '(unset)', description: 'PEM private key file of MAILERDASH_INBOUND_TLS_CERT.', parse: optional }),
  spec({
    name: 'MAILERDASH_FBL_ADDRESS',
    key: 'fblAddress',
    defaultText: 'fbl@$MAILERDASH_BOUNCE_DOMAIN',
    description: 'The address registered with mailbox providers\' feedback loops; ARF reports to it are accepted.',
    parse: (raw, env) => {
      const value = (optional(raw) ?? `fbl@${bounceDomainOf(env)}`).toLowerCase();
      if (!/^[^@\s]+@[^@\s]+$/.test(value)) throw new ConfigError('MAILERDASH_FBL_ADDRESS', `is not an address: "${value}"`);
      return value;
    },
  }),
  spec({ name: 'MAILERDASH_SOFT_BOUNCE_LIMIT', key: 'softBounceLimit', defaultText: '5', description: 'Soft bounces of one address within MAILERDASH_SOFT_BOUNCE_DAYS that make it bounced.', parse: integer('MAILERDASH_SOFT_BOUNCE_LIMIT', 5, 1, 1000) }),
  spec({ name: 'MAILERDASH_SOFT_BOUNCE_DAYS', key: 'softBounceWindowDays', defaultText: '7', description: 'The soft-bounce window in days.', parse: integer('MAILERDASH_SOFT_BOUNCE_DAYS', 7, 1, 365) }),
  // Retention (issue 16).
  spec({
    name: 'MAILERDASH_RETENTION_DAYS',
    key: 'retentionDays',
    defaultText: '30',
    description:
      'Days the message log is kept: messages, their contents and events (tracking included), webhook events and deliveries, inbound reports, batch recipient lists. Older rows are removed by `mailerdash worker`; messages in flight never are. Statistics (aggregates) are kept.',
    parse: integer('MAILERDASH_RETENTION_DAYS', 30, 1, 36_500),
  }),
  spec({
    name: 'MAILERDASH_CONTENT_RETENTION_DAYS',
    key: 'contentRetentionDays',
    defaultText: '(MAILERDASH_RETENTION_DAYS)',
    description: 'Days message bodies (text, HTML, attachments, raw MIME) are kept, if shorter than MAILERDASH_RETENTION_DAYS; the log keeps sender and subject until the message goes.',
    parse: (raw, env) => {
      const days = integer('MAILERDASH_RETENTION_DAYS', 30, 1, 36_500)(env.MAILERDASH_RETENTION_DAYS);
      return Math.min(days, integer('MAILERDASH_CONTENT_RETENTION_DAYS', days, 1, 36_500)(raw));
    },
  }),
  spec({ name: 'MAILERDASH_RETENTION_BATCH', key: 'retentionBatch', defaultText: '1000', description: 'Most rows one retention statement removes (each its own short transaction).', parse: integer('MAILERDASH_RETENTION_BATCH', 1000, 10, 100_000) }),
  // Batches (issue 12): named providers.
  spec({
    name: 'MAILERDASH_PROVIDERS',
    key: 'providers',
    defaultText: '(unset: one provider, MAILERDASH_SMTP_URL or the outbox)',
    description:
      'Named providers as JSON or the path of a JSON file: {"smtp-main":{"type":"smtp","url":"smtp://…"},"ses-a":{"type":"ses","region":"eu-west-1","access_key_id":"…","secret_access_key":"…"}}. Types: smtp (url, connections), outbox (dir), and ses, sendgrid, mailgun, postmark with the settings of a per-key provider (see /v1/providers; webhook secrets included). Events of an email service provider post to /v1/events/{type}/{name}.',
    parse: (raw) => parseProviders(optional(raw)),
  }),
  spec({
    name: 'MAILERDASH_DEFAULT_PROVIDER',
    key: 'defaultProvider',
    defaultText: '(unset: the first of MAILERDASH_PROVIDERS)',
    description: 'The provider of every send that names none (/v1/mail/send, campaigns, sequences, batches without a policy).',
    parse: (raw, env) => {
      const value = optional(raw);
      const providers = parseProviders(optional(env.MAILERDASH_PROVIDERS));
      if (value !== null && !providers) throw new ConfigError('MAILERDASH_DEFAULT_PROVIDER', 'needs MAILERDASH_PROVIDERS');
      if (!providers) return null;
      const name = value ?? Object.keys(providers)[0]!;
      try {
        validateProviders(providers, name);
      } catch (error) {
        throw new ConfigError(value === null ? 'MAILERDASH_PROVIDERS' : 'MAILERDASH_DEFAULT_PROVIDER', (error as Error).message);
      }
      return name;
    },
  }),
  spec({
    name: 'MAILERDASH_SNS_CERT_URL_PATTERN',
    key: 'snsUrlPattern',
    defaultText: '^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/',
    description: 'Regular expression that the SigningCertURL and SubscribeURL of an SES event post (SNS) must match before they are fetched (tests point it at a local server).',
    parse: (raw) => {
      try {
        return new RegExp(optional(raw) ?? SNS_HOST_PATTERN);
      } catch {
        throw new ConfigError('MAILERDASH_SNS_CERT_URL_PATTERN', 'must be a regular expression');
      }
    },
  }),
  spec({
    name: 'MAILERDASH_UI_DIR',
    key: 'uiDir',
    defaultText: 'dist/ui of the installation',
    description: 'Directory of the built dashboard served at /ui (npm ci builds it; npm run build redoes it).',
    parse: (raw) => optional(raw) ?? fileURLToPath(new URL('../dist/ui', import.meta.url)),
  }),
  spec({
    name: 'MAILERDASH_UI_SESSION_HOURS',
    key: 'uiSessionMs',
    defaultText: '12',
    description: 'How long a dashboard sign-in lasts before the session cookie expires.',
    parse: (raw) => integer('MAILERDASH_UI_SESSION_HOURS', 12, 1, 24 * 30)(raw) * 3_600_000,
  }),
] as const;

function bounceDomainOf(env: Env): string {
  return hostname('MAILERDASH_BOUNCE_DOMAIN', () => optional(env.MAILERDASH_HOSTNAME) ?? machineHostname())(env.MAILERDASH_BOUNCE_DOMAIN);
}

function parseProviders(raw: string | null): Record<string, ProviderConfig> | null {
  if (raw === null) return null;
  let text = raw;
  if (!raw.trimStart().startsWith('{')) {
    try {
      text = readFileSync(raw, 'utf8');
    } catch (error) {
      throw new ConfigError('MAILERDASH_PROVIDERS', `is neither JSON nor a readable file: ${(error as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('MAILERDASH_PROVIDERS', `is not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('MAILERDASH_PROVIDERS', 'must be an object of named providers');
  try {
    validateProviders(parsed as Record<string, ProviderConfig>, Object.keys(parsed)[0] ?? '');
  } catch (error) {
    if (error instanceof ProviderConfigError) throw new ConfigError('MAILERDASH_PROVIDERS', error.message);
    throw error;
  }
  return parsed as Record<string, ProviderConfig>;
}

/** Reads every variable; the first bad one throws a ConfigError naming it. */
export function loadConfig(env: Env = process.env): Config {
  const config = {} as Record<keyof Config, unknown>;
  for (const variable of VARIABLES) {
    config[variable.key] = variable.parse(env[variable.name], env);
  }
  return config as unknown as Config;
}
