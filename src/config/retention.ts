import { integer, specsOf } from './parsers.ts';

/** Retention of the message log (issue 16): its age limit in days, content's (never longer), and the size of one removal. */
export interface RetentionConfig {
  retentionDays: number;
  contentRetentionDays: number;
  /** Rows one retention statement removes at most. */
  retentionBatch: number;
}

const spec = specsOf<RetentionConfig>();

export const RETENTION_VARIABLES = [
  spec({
    name: 'MAILERDASH_RETENTION_DAYS',
    key: 'retentionDays',
    defaultText: '30',
    description:
      'Days the message log is kept: messages, their contents and events (tracking included), webhook events and deliveries, inbound reports, batch recipient lists, finished contact import jobs. Older rows are removed by `mailerdash worker`; messages in flight never are. Statistics (aggregates) are kept.',
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
] as const;
