import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { newId } from '../../lib/ids.ts';
import type { InboundStatus } from './tables.ts';

/** Every SQL statement of the inbound reports: storing a mail, claiming, finishing, listing. */

export interface NewInboundReport {
  remoteIp: string | null;
  mailFrom: string | null;
  rcptTo: string[];
  raw: Buffer;
  /** The message a verified VERP or unsubscribe token named at RCPT, if any. */
  messageId: string | null;
}

export async function storeReport(db: Kysely<DB>, report: NewInboundReport, now: Date): Promise<string> {
  const id = newId('inr');
  await db
    .insertInto('inbound_reports')
    .values({ id, remote_ip: report.remoteIp, mail_from: report.mailFrom, rcpt_to: report.rcptTo.join(','), size: report.raw.length, raw: report.raw, message_id: report.messageId, received_at: now, due_at: now })
    .execute();
  return id;
}

export interface ClaimedReport {
  id: string;
  raw: Buffer;
  rcpt_to: string;
  mail_from: string | null;
  attempts: number;
}

/** Claims due pending reports (or ones whose worker died: the lease lapsed) with a lease. */
export async function claimReports(db: Kysely<DB>, limit: number, now: Date, leaseMs: number): Promise<ClaimedReport[]> {
  const { rows } = await sql<ClaimedReport>`
    with due as (
      select id from inbound_reports
      where status = 'pending' and due_at <= ${now} and (lease_until is null or lease_until < ${now})
      order by due_at
      limit ${limit}
      for update skip locked
    )
    update inbound_reports r set lease_until = ${new Date(now.getTime() + leaseMs)}, attempts = r.attempts + 1
    from due where r.id = due.id
    returning r.id, r.raw, r.rcpt_to, r.mail_from, r.attempts`.execute(db);
  return rows.map((r) => ({ ...r, raw: Buffer.from(r.raw) }));
}

export interface ReportResult {
  status: Exclude<InboundStatus, 'pending' | 'failed'>;
  form: string | null;
  keyId: string | null;
  messageId: string | null;
  result: Record<string, unknown>;
}

/** Records the outcome, only while the claim is still ours (same attempt). */
export async function finishReport(db: Kysely<DB>, id: string, attempts: number, outcome: ReportResult, now: Date): Promise<boolean> {
  const row = await db
    .updateTable('inbound_reports')
    .set({ status: outcome.status, form: outcome.form, key_id: outcome.keyId, message_id: outcome.messageId, result: JSON.stringify(outcome.result), lease_until: null, processed_at: now, error: null })
    .where('id', '=', id)
    .where('attempts', '=', attempts)
    .where('status', '=', 'pending')
    .returning('id')
    .executeTakeFirst();
  return !!row;
}

/** A processing error: retried later, or failed for good after `maxAttempts`. */
export async function failReport(db: Kysely<DB>, id: string, attempts: number, error: string, retryAt: Date | null): Promise<void> {
  await db
    .updateTable('inbound_reports')
    .set(retryAt ? { error, lease_until: null, due_at: retryAt } : { error, lease_until: null, status: 'failed' })
    .where('id', '=', id)
    .where('attempts', '=', attempts)
    .execute();
}

const LIST_COLUMNS = ['id', 'received_at', 'remote_ip', 'mail_from', 'rcpt_to', 'size', 'key_id', 'message_id', 'form', 'status', 'result', 'error', 'attempts', 'processed_at'] as const;

export async function listReports(db: Kysely<DB>, filter: { status?: InboundStatus; limit: number; offset: number }) {
  let query = db.selectFrom('inbound_reports');
  if (filter.status) query = query.where('status', '=', filter.status);
  const [rows, count] = await Promise.all([
    query.select(LIST_COLUMNS).orderBy('received_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export function getReport(db: Kysely<DB>, id: string) {
  return db.selectFrom('inbound_reports').select([...LIST_COLUMNS, 'raw']).where('id', '=', id).executeTakeFirst();
}
