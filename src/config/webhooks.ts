import { integer, optional, specsOf } from './parsers.ts';

/** Webhook delivery to customer endpoints. */
export interface WebhooksConfig {
  webhookAllowHosts: string[];
  webhookConcurrency: number;
}

const spec = specsOf<WebhooksConfig>();

export const WEBHOOK_VARIABLES = [
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
] as const;
