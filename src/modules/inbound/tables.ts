import type { ColumnType, Generated } from 'kysely';

export type InboundStatus = 'pending' | 'processed' | 'unmatched' | 'failed';

/** One mail the inbound listener accepted, kept raw until (and after) a worker processed it. */
export interface InboundReportsTable {
  id: string;
  received_at: Generated<Date>;
  remote_ip: string | null;
  mail_from: string | null;
  /** The accepted envelope recipients, comma-separated. */
  rcpt_to: string;
  size: number;
  raw: Buffer;
  /** The key of the message it was matched to (null until matched, or never). */
  key_id: string | null;
  message_id: string | null;
  /** dsn, arf, text (a bounce in prose or an auto-reply), mailto. */
  form: string | null;
  status: Generated<InboundStatus>;
  result: ColumnType<unknown, string | undefined, string>;
  error: string | null;
  attempts: Generated<number>;
  due_at: ColumnType<Date, Date | string | undefined, Date | string>;
  lease_until: Date | null;
  processed_at: Date | null;
}

export interface InboundTables {
  inbound_reports: InboundReportsTable;
}
