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

/**
 * Inserts many requests' rows in one statement (data-modifying CTEs: contents, messages, their 'queued'
 * events), so a group costs one round trip; foreign keys are checked at the end of the statement.
 * One statement is atomic on its own, so it needs no transaction unless the caller has more to do.
 */
export async function insertAccepted(db: Kysely<DB>, batch: AcceptedRows[]): Promise<void> {
  const contents = batch.map((b) => b.content);
  const messages = batch.flatMap((b) => b.messages);
  if (!contents.length) return;
  if (contents.length > CHUNK || messages.length > CHUNK) {
    for (const part of chunks(contents)) await db.insertInto('message_contents').values(part).execute();
    for (const part of chunks(messages)) await db.insertInto('messages').values(part).execute();
    for (const part of chunks(messages)) await db.insertInto('message_events').values(part.map((m) => ({ message_id: m.id, type: 'queued' }))).execute();
    return;
  }
  await db
    .with('c', (q) => q.insertInto('message_contents').values(contents))
    .with('m', (q) => q.insertInto('messages').values(messages))
    .insertInto('message_events')
    .values(messages.map((m) => ({ message_id: m.id, type: 'queued' })))
    .execute();
}
