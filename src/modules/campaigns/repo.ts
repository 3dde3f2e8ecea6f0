import { sql, type Kysely, type Updateable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { hasSubscriber, messageEventData, newEventId } from '../events/outbox.ts';
import { countInto } from '../stats/counting.ts';
import { scopeTotals } from '../stats/repo.ts';
import type { CampaignsTable } from './tables.ts';

export const CAMPAIGN_COLUMNS = [
  'id',
  'key_id',
  'name',
  'list_id',
  'template_id',
  'from_email',
  'from_name',
  'reply_to',
  'subject',
  'tracking',
  'status',
  'send_at',
  'content_id',
  'cursor_contact_id',
  'dispatch_done',
  'recipients',
  'skipped_suppressed',
  'started_at',
  'sent_at',
  'created_at',
  'updated_at',
] as const;

export type CampaignRow = {
  [K in (typeof CAMPAIGN_COLUMNS)[number]]: CampaignsTable[K] extends { __select__: infer S } ? S : CampaignsTable[K];
};

export type NewCampaign = Pick<CampaignRow, 'id' | 'key_id' | 'name' | 'list_id' | 'template_id' | 'from_email' | 'from_name' | 'reply_to' | 'subject' | 'tracking' | 'send_at'>;

export async function insertCampaign(db: Kysely<DB>, row: NewCampaign): Promise<CampaignRow> {
  return (await db.insertInto('campaigns').values(row).returning(CAMPAIGN_COLUMNS).executeTakeFirstOrThrow()) as CampaignRow;
}

export async function findCampaign(db: Kysely<DB>, keyId: string, id: string, forUpdate = false): Promise<CampaignRow | undefined> {
  let query = db.selectFrom('campaigns').select(CAMPAIGN_COLUMNS).where('key_id', '=', keyId).where('id', '=', id);
  if (forUpdate) query = query.forUpdate();
  return (await query.executeTakeFirst()) as CampaignRow | undefined;
}

export async function listCampaigns(
  db: Kysely<DB>,
  filter: { keyId: string | null; status?: string; limit: number; offset: number },
): Promise<{ rows: CampaignRow[]; total: number }> {
  let query = db.selectFrom('campaigns');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  if (filter.status) query = query.where('status', '=', filter.status as CampaignRow['status']);
  const [rows, count] = await Promise.all([
    query.select(CAMPAIGN_COLUMNS).orderBy('created_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as CampaignRow[], total: Number(count.n) };
}

export async function updateCampaign(db: Kysely<DB>, id: string, changes: Updateable<CampaignsTable>): Promise<CampaignRow> {
  return (await db
    .updateTable('campaigns')
    .set({ ...changes, updated_at: new Date() })
    .where('id', '=', id)
    .returning(CAMPAIGN_COLUMNS)
    .executeTakeFirstOrThrow()) as CampaignRow;
}

export async function deleteCampaign(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom('campaigns').where('id', '=', id).execute();
}

export async function listExists(db: Kysely<DB>, keyId: string, listId: string): Promise<boolean> {
  return !!(await db.selectFrom('lists').select('id').where('key_id', '=', keyId).where('id', '=', listId).executeTakeFirst());
}

export async function templateExists(db: Kysely<DB>, keyId: string, templateId: string): Promise<boolean> {
  return !!(await db.selectFrom('templates').select('id').where('key_id', '=', keyId).where('id', '=', templateId).executeTakeFirst());
}

// Paused sends wait at a due time that never comes; resuming makes them due again.
export const NEVER = new Date('9999-12-31T00:00:00Z');

export async function holdQueuedMessages(db: Kysely<DB>, campaignId: string): Promise<void> {
  await db.updateTable('messages').set({ due_at: NEVER }).where('campaign_id', '=', campaignId).where('status', 'in', ['queued', 'deferred']).execute();
}

export async function releaseHeldMessages(db: Kysely<DB>, campaignId: string): Promise<void> {
  await db.updateTable('messages').set({ due_at: new Date() }).where('campaign_id', '=', campaignId).where('status', 'in', ['queued', 'deferred']).where('due_at', '>=', NEVER).execute();
}

/** Cancelling drops what has not been handed to a transport yet, each with its message.dropped event. */
export async function dropUnsentMessages(db: Kysely<DB>, campaignId: string, now: Date): Promise<void> {
  await sql`
    with dropped as (
      update messages set status = 'dropped', last_response = 'campaign cancelled', updated_at = ${now}
      where campaign_id = ${campaignId} and status in ('queued', 'deferred')
      returning id, key_id, to_email, channel, campaign_id, batch_id, request_id, content_id, personalization
    ), counted as (
      ${countInto(sql`select key_id, channel, campaign_id, batch_id, null::text as sequence_id, 'dropped' as counter from dropped`, now)}
    )
    insert into events (id, key_id, type, at, data)
    select ${newEventId}, m.key_id, 'message.dropped', ${now}, ${messageEventData('m', 'c')} || '{"reason": "campaign cancelled", "response": "campaign cancelled"}'::jsonb
    from dropped m join message_contents c on c.id = m.content_id
    where ${hasSubscriber(sql.ref('m.key_id'), 'message.dropped')}`.execute(db);
}

/**
 * The campaign's figures from the aggregates (stat_counts), which outlive its messages. Outcomes are
 * final except one: a sent message may bounce later (a DSN, a provider event), and then it is bounced,
 * no longer sent. pending: made and not final yet.
 */
export async function campaignCounts(db: Kysely<DB>, campaign: { id: string; key_id: string; recipients: number }) {
  const c = await scopeTotals(db, 'campaign', campaign.key_id, campaign.id);
  const sent = c.sent - c.bounced_after_sent;
  const final = sent + c.bounced + c.failed + c.dropped;
  return { ...c, messages: campaign.recipients, sent, pending: Math.max(0, campaign.recipients - final) };
}
