import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { hasSubscriber, messageEventData, newEventId } from '../events/outbox.ts';
import { countInto, sequenceOf, type Counter } from '../stats/counting.ts';

/** The SQL of the feedback path: the message a report names, its timeline events, soft-bounce counts. */

export interface FeedbackMessage {
  id: string;
  key_id: string;
  to_email: string;
  status: string;
  campaign_id: string | null;
}

export function findFeedbackMessage(db: Kysely<DB>, messageId: string): Promise<FeedbackMessage | undefined> {
  return db.selectFrom('messages').select(['id', 'key_id', 'to_email', 'status', 'campaign_id']).where('id', '=', messageId).executeTakeFirst();
}

/** Events a message has at most once: engagement (first open, click, unsubscribe) and feedback (delivered, complained). */
export type OnceEvent = 'opened' | 'clicked' | 'unsubscribed' | 'delivered' | 'complained';

const ONCE_INDEX: Record<OnceEvent, ReturnType<typeof sql>> = {
  opened: sql`type in ('opened', 'clicked', 'unsubscribed')`,
  clicked: sql`type in ('opened', 'clicked', 'unsubscribed')`,
  unsubscribed: sql`type in ('opened', 'clicked', 'unsubscribed')`,
  delivered: sql`type in ('delivered', 'complained')`,
  complained: sql`type in ('delivered', 'complained')`,
};

/** Records the event once per message (a unique partial index), counted in the aggregates; returns whether this was the first. */
export async function recordOnceEvent(db: Kysely<DB>, messageId: string, type: OnceEvent, data: Record<string, unknown>, at: Date): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    with recorded as (
      insert into message_events (message_id, type, at, data)
      values (${messageId}, ${type}, ${at}, ${JSON.stringify(data)}::jsonb)
      on conflict (message_id, type) where ${ONCE_INDEX[type]} do nothing
      returning message_id
    ), counted as (
      ${countMessages(sql`select message_id from recorded`, type, at)}
    )
    select count(*)::int as n from recorded`.execute(db);
  return Number(rows[0]?.n ?? 0) > 0;
}

/** The aggregates' insert for the messages whose ids `ids` selects, each counted once as `counter`. */
function countMessages(ids: ReturnType<typeof sql>, counter: Counter, at: Date) {
  return countInto(
    sql`select m.key_id, m.channel, m.campaign_id, m.batch_id, ${sequenceOf(sql.ref('m.sequence_subscriber_id'))} as sequence_id, ${counter}::text as counter
        from messages m where m.id in (${ids})`,
    at,
  );
}

/**
 * A message that was sent becomes bounced (a later DSN or provider event), with its timeline
 * event; false when it was not sent (already bounced, or never left).
 */
export async function markMessageBounced(db: Kysely<DB>, messageId: string, response: string | null, data: Record<string, unknown>, at: Date): Promise<boolean> {
  const updated = await db
    .updateTable('messages')
    .set({ status: 'bounced', last_response: response ?? undefined, updated_at: at })
    .where('id', '=', messageId)
    .where('status', '=', 'sent')
    .returning('id')
    .executeTakeFirst();
  if (!updated) return false;
  await db.insertInto('message_events').values({ message_id: messageId, type: 'bounced', at, data: JSON.stringify(data) }).execute();
  await countMessages(sql`${messageId}`, 'bounced_after_sent', at).execute(db);
  return true;
}

export type MessageEventType = 'opened' | 'clicked' | 'unsubscribed' | 'delivered' | 'complained' | 'bounced';

/** Writes the message's `message.<type>` event (when its key has a subscriber), built from the message row. */
export async function emitMessageEvent(db: Kysely<DB>, messageId: string, type: MessageEventType, extra: Record<string, unknown>, at: Date): Promise<void> {
  await sql`
    insert into events (id, key_id, type, at, data)
    select ${newEventId}, m.key_id, ${`message.${type}`}, ${at}, ${messageEventData('m', 'c')} || ${JSON.stringify(extra)}::jsonb
    from messages m join message_contents c on c.id = m.content_id
    where m.id = ${messageId} and ${hasSubscriber(sql.ref('m.key_id'), `message.${type}`)}`.execute(db);
}

/** Counts a soft bounce of a message (once per message); returns the address's soft bounces since `since`. */
export async function countSoftBounce(db: Kysely<DB>, entry: { messageId: string; keyId: string; email: string; reason: string | null }, at: Date, since: Date): Promise<number> {
  await db
    .insertInto('soft_bounces')
    .values({ message_id: entry.messageId, key_id: entry.keyId, email: entry.email.toLowerCase(), at, reason: entry.reason })
    .onConflict((oc) => oc.column('message_id').doNothing())
    .execute();
  const row = await db
    .selectFrom('soft_bounces')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('key_id', '=', entry.keyId)
    .where('email', '=', entry.email.toLowerCase())
    .where('at', '>', since)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
