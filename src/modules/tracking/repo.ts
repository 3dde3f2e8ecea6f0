import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

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

export async function hasEvent(db: Kysely<DB>, messageId: string, type: EngagementEvent): Promise<boolean> {
  const row = await db.selectFrom('message_events').select('id').where('message_id', '=', messageId).where('type', '=', type).executeTakeFirst();
  return !!row;
}

