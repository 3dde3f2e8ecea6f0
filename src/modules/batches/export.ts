import { Readable } from 'node:stream';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

/** The per-recipient outcome export, read a page at a time by position: constant memory whatever the batch's size. */

export const EXPORT_COLUMNS = ['index', 'email', 'status', 'rejection_reason', 'provider', 'provider_message_id', 'message_id', 'smtp_reply', 'accepted_at', 'sent_at', 'updated_at'] as const;
type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>;

const PAGE = 2000;

async function* exportRows(db: Kysely<DB>, batchId: string): AsyncGenerator<ExportRow> {
  let after = -1;
  for (;;) {
    const { rows } = await sql<{ seq: number; email: string; rejection: string | null; message_id: string | null; status: string | null; provider: string | null; provider_message_id: string | null; last_response: string | null; created_at: Date; sent_at: Date | null; updated_at: Date | null }>`
      select r.seq, r.email, r.rejection, r.message_id, m.status, m.provider, m.provider_message_id, m.last_response, b.created_at, m.sent_at, m.updated_at
      from batch_recipients r join batches b on b.id = r.batch_id left join messages m on m.id = r.message_id
      where r.batch_id = ${batchId} and r.seq > ${after}
      order by r.seq limit ${PAGE}`.execute(db);
    for (const r of rows) {
      const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);
      yield {
        index: r.seq,
        email: r.email,
        // An accepted recipient the slice dispatcher has not made into a message yet waits as queued.
        status: r.rejection ? 'rejected' : (r.status ?? 'queued'),
        rejection_reason: r.rejection,
        provider: r.provider,
        provider_message_id: r.provider_message_id,
        message_id: r.message_id,
        smtp_reply: r.last_response,
        accepted_at: r.rejection ? null : iso(r.created_at),
        sent_at: iso(r.sent_at),
        updated_at: iso(r.updated_at ?? r.created_at),
      };
    }
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.seq;
  }
}

/**
 * A CSV cell: quoted when it holds a separator, quote or line break; a cell a spreadsheet would
 * read as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe (OWASP CSV injection).
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function exportStream(db: Kysely<DB>, batchId: string, format: 'csv' | 'ndjson'): Readable {
  async function* lines(): AsyncGenerator<string> {
    if (format === 'csv') yield `${EXPORT_COLUMNS.join(',')}\r\n`;
    let buffer = '';
    for await (const row of exportRows(db, batchId)) {
      buffer += format === 'csv' ? `${EXPORT_COLUMNS.map((c) => csvCell(row[c])).join(',')}\r\n` : `${JSON.stringify(row)}\n`;
      if (buffer.length > 64 * 1024) {
        yield buffer;
        buffer = '';
      }
    }
    if (buffer) yield buffer;
  }
  return Readable.from(lines());
}
