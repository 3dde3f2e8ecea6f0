import type { Insertable, Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { MessageContentsTable, MessagesTable } from '../messages/tables.ts';

/** One accepted request: its content row and one message row per recipient. */
export interface AcceptedRows {
  content: Insertable<MessageContentsTable>;
  messages: Insertable<MessagesTable>[];
}

// PostgreSQL takes at most 65,535 parameters per statement; a messages row has 12.
const CHUNK = 2000;

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

/** Inserts many requests' rows with a few multi-row statements: contents, messages, then their 'queued' events. */
export async function insertAccepted(db: Kysely<DB>, batch: AcceptedRows[]): Promise<void> {
  if (!batch.length) return;
  for (const part of chunks(batch.map((b) => b.content))) await db.insertInto('message_contents').values(part).execute();
  const messages = batch.flatMap((b) => b.messages);
  for (const part of chunks(messages)) await db.insertInto('messages').values(part).execute();
  for (const part of chunks(messages)) {
    await db
      .insertInto('message_events')
      .values(part.map((m) => ({ message_id: m.id, type: 'queued' })))
      .execute();
  }
}
