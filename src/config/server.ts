import path from 'node:path';
import { ConfigError, hostname, integer, machineHostname, optional, secret, specsOf, url } from './parsers.ts';

/** The process: HTTP listener, storage, keys, logs, the public URL and host name. */
export interface ServerConfig {
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
  secret: string | null;
  workerPollMs: number;
}

const spec = specsOf<ServerConfig>();

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const SERVER_VARIABLES = [
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
    parse: secret('MAILERDASH_ADMIN_KEY', 32),
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
    name: 'MAILERDASH_SECRET',
    key: 'secret',
    defaultText: '(unset: generated once and kept in the database)',
    description: "Server secret for signed links (unsubscribe, tracking), sealed secrets and the per-key salts of erased addresses' suppression hashes (changing it forgets those entries). At least 32 characters.",
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
] as const;
