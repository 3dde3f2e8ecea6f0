import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Channel, MessageStatus } from './tables.ts';

export interface MessageFilter {
  /** null: every key (admin). */
  keyId: string | null;
  status?: MessageStatus;
  channel?: Channel;
  to?: string;
  since?: Date;
  requestId?: string;
}

function baseQuery(db: Kysely<DB>, filter: MessageFilter) {
  let query = db.selectFrom('messages as m');
  if (filter.keyId !== null) query = query.where('m.key_id', '=', filter.keyId);
  if (filter.status) query = query.where('m.status', '=', filter.status);
  if (filter.channel) query = query.where('m.channel', '=', filter.channel);
  if (filter.to) query = query.where(sql`lower(m.to_email)`, '=', filter.to.toLowerCase());
  if (filter.since) query = query.where('m.created_at', '>=', filter.since);
  if (filter.requestId) query = query.where('m.request_id', '=', filter.requestId);
  return query;
}

function withContent(query: ReturnType<typeof baseQuery>) {
  return query
    .innerJoin('message_contents as c', 'c.id', 'm.content_id')
    .select([
      'm.id',
      'm.key_id',
      'm.request_id',
      'm.status',
      'm.channel',
      'm.to_email',
      'm.to_name',
      'm.personalization',
      'm.attempts',
      'm.last_response',
      'm.provider',
      'm.provider_message_id',
      'm.due_at',
      'm.created_at',
      'm.sent_at',
      'c.from_email',
      'c.from_name',
      'c.subject',
    ]);
}

export type MessageRow = Awaited<ReturnType<typeof findMessage>> & {};

export async function listMessages(db: Kysely<DB>, filter: MessageFilter, page: { limit: number; offset: number }) {
  const [rows, count] = await Promise.all([
    withContent(baseQuery(db, filter)).orderBy('m.created_at', 'desc').orderBy('m.id', 'desc').limit(page.limit).offset(page.offset).execute(),
    baseQuery(db, filter).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function findMessage(db: Kysely<DB>, keyId: string | null, id: string) {
  return withContent(baseQuery(db, { keyId }).where('m.id', '=', id)).executeTakeFirst();
}

export async function eventsOf(db: Kysely<DB>, messageIds: string[]) {
  if (!messageIds.length) return [];
  return db
    .selectFrom('message_events')
    .select(['message_id', 'type', 'at', 'data'])
    .where('message_id', 'in', messageIds)
    .orderBy('message_id')
    .orderBy('id')
    .execute();
}
