import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { hasSubscriber, messageEventData, newEventId } from '../events/outbox.ts';

export interface TrackedMessage {
  id: string;
  key_id: string;
  to_email: string;
  campaign_id: string | null;
  from_email: string;
  from_name: string | null;
}

export function findTrackedMessage(db: Kysely<DB>, messageId: string): Promise<TrackedMessage | undefined> {
  return db
    .selectFrom('messages')
    .innerJoin('message_contents', 'message_contents.id', 'messages.content_id')
    .select(['messages.id', 'messages.key_id', 'messages.to_email', 'messages.campaign_id', 'message_contents.from_email', 'message_contents.from_name'])
    .where('messages.id', '=', messageId)
    .executeTakeFirst();
}

export type EngagementEvent = 'opened' | 'clicked' | 'unsubscribed';

/** Records the event once per message (a unique partial index); returns whether this was the first. */
export async function recordUniqueEvent(db: Kysely<DB>, messageId: string, type: EngagementEvent, data: Record<string, unknown>): Promise<boolean> {
  const result = await sql`
    insert into message_events (message_id, type, data)
    values (${messageId}, ${type}, ${JSON.stringify(data)}::jsonb)
    on conflict (message_id, type) where type in ('opened', 'clicked', 'unsubscribed') do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}

export async function hasEvent(db: Kysely<DB>, messageId: string, type: EngagementEvent): Promise<boolean> {
  const row = await db.selectFrom('message_events').select('id').where('message_id', '=', messageId).where('type', '=', type).executeTakeFirst();
  return !!row;
}

/** Writes the message's `message.<type>` event (when its key has a subscriber), built from the message row. */
export async function emitMessageEvent(db: Kysely<DB>, messageId: string, type: EngagementEvent, extra: Record<string, unknown>, at: Date): Promise<void> {
  await sql`
    insert into events (id, key_id, type, at, data)
    select ${newEventId}, m.key_id, ${`message.${type}`}, ${at}, ${messageEventData('m', 'c')} || ${JSON.stringify(extra)}::jsonb
    from messages m join message_contents c on c.id = m.content_id
    where m.id = ${messageId} and ${hasSubscriber(sql.ref('m.key_id'), `message.${type}`)}`.execute(db);
}
