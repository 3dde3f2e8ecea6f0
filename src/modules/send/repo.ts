import { sql, type Insertable, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { PREPARED } from '../../db/prepared.ts';
import { ATTACHMENT_PART_BYTES } from '../../delivery/mime-encoding.ts';
import type { MessageAttachmentsTable, MessageContentsTable, MessagesTable } from '../messages/tables.ts';

/** One accepted request: its content row, its attachments (decoded) and one message row per recipient. */
export interface AcceptedRows {
  content: Insertable<MessageContentsTable>;
  messages: Insertable<MessagesTable>[];
  /** Each attachment's bytes in the parts it is stored in, each at most ATTACHMENT_PART_BYTES. */
  attachments?: Array<Omit<Insertable<MessageAttachmentsTable>, 'part' | 'data'> & { parts: readonly Buffer[] }>;
}

/** Whole bytes as the parts they are stored in (views, not copies). */
export function attachmentParts(data: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += ATTACHMENT_PART_BYTES) parts.push(data.subarray(at, at + ATTACHMENT_PART_BYTES));
  return parts;
}

/** Whether writing these needs a transaction: attachments are statements of their own after the contents. */
export const hasAttachments = (batch: AcceptedRows[]) => batch.some((b) => !!b.attachments?.length);

const timestamp = (value: Date | string | undefined) => (value === undefined ? new Date().toISOString() : typeof value === 'string' ? value : value.toISOString());

/**
 * Inserts many requests' rows in one statement of constant text: each column travels as one array
 * parameter (unnest), contents and messages in one data-modifying CTE. A group of any size costs one
 * round trip and no per-row query building; one statement is atomic on its own, so it needs no
 * transaction unless the caller has more to do. (A message's `queued` event is its created_at: the
 * message log derives it, no row is written.)
 */
export async function insertAccepted(db: Kysely<DB>, batch: AcceptedRows[]): Promise<void> {
  if (!batch.length) return;
  const c = batch.map((b) => b.content);
  const m = batch.flatMap((b) => b.messages);
  await sql`${PREPARED}
    with c as (
      insert into message_contents (id, key_id, from_email, from_name, reply_to, subject, html, text, headers, attachments, categories, settings)
      select * from unnest(
        ${c.map((r) => r.id)}::text[], ${c.map((r) => r.key_id)}::text[], ${c.map((r) => r.from_email)}::text[],
        ${c.map((r) => r.from_name ?? null)}::text[], ${c.map((r) => r.reply_to)}::jsonb[], ${c.map((r) => r.subject)}::text[],
        ${c.map((r) => r.html ?? null)}::text[], ${c.map((r) => r.text ?? null)}::text[], ${c.map((r) => r.headers ?? '{}')}::jsonb[],
        ${c.map((r) => r.attachments ?? '[]')}::jsonb[], ${c.map((r) => r.categories ?? '[]')}::jsonb[], ${c.map((r) => r.settings ?? '{}')}::jsonb[]
      )
    )
    insert into messages (id, key_id, content_id, request_id, channel, lane, status, to_email, to_name, personalization, due_at)
    select * from unnest(
      ${m.map((r) => r.id)}::text[], ${m.map((r) => r.key_id)}::text[], ${m.map((r) => r.content_id)}::text[],
      ${m.map((r) => r.request_id ?? null)}::text[], ${m.map((r) => r.channel)}::text[], ${m.map((r) => r.lane)}::smallint[],
      ${m.map((r) => r.status)}::text[], ${m.map((r) => r.to_email)}::text[], ${m.map((r) => r.to_name ?? null)}::text[],
      ${m.map((r) => r.personalization ?? '{}')}::jsonb[], ${m.map((r) => timestamp(r.due_at))}::timestamptz[]
    )`.execute(db);
  // One statement per part, its bytes a parameter of their own: a bytea inside an array parameter would
  // travel as hex text (twice its size, built in memory), a lone Buffer travels as it is.
  for (const a of batch.flatMap((b) => b.attachments ?? [])) {
    const parts = a.parts.length ? a.parts : [Buffer.alloc(0)];
    for (const [part, data] of parts.entries()) {
      await sql`${PREPARED}
        insert into message_attachments (content_id, key_id, seq, part, filename, type, disposition, cid, data)
        values (${a.content_id}, ${a.key_id}, ${a.seq}, ${part}, ${a.filename}, ${a.type ?? null}, ${a.disposition}, ${a.cid ?? null}, ${data})`.execute(db);
    }
  }
}
