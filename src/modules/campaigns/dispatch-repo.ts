import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { CampaignRow } from './repo.ts';
import { CAMPAIGN_COLUMNS } from './repo.ts';

/**
 * Locks one campaign that has members left to dispatch, skipping rows another worker holds. The
 * lock lives as long as the caller's transaction: a worker that dies mid-chunk loses nothing but
 * its uncommitted chunk, and the next claim redoes it.
 */
export async function claimDispatchable(db: Kysely<DB>, now: Date): Promise<CampaignRow | undefined> {
  return (await db
    .selectFrom('campaigns')
    .select(CAMPAIGN_COLUMNS)
    .where('status', '=', 'send')
    .where('dispatch_done', '=', false)
    .where((eb) => eb.or([eb('send_at', 'is', null), eb('send_at', '<=', now)]))
    .orderBy('updated_at')
    .limit(1)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst()) as CampaignRow | undefined;
}

export interface TemplateContent {
  subject: string;
  html: string | null;
  body_text: string | null;
}

export function findTemplate(db: Kysely<DB>, keyId: string, templateId: string): Promise<TemplateContent | undefined> {
  return db.selectFrom('templates').select(['subject', 'html', 'body_text']).where('key_id', '=', keyId).where('id', '=', templateId).executeTakeFirst();
}

export async function insertContent(
  db: Kysely<DB>,
  row: { id: string; key_id: string; from_email: string; from_name: string | null; reply_to: string | null; subject: string; html: string | null; text: string | null; settings: Record<string, unknown>; categories: string[] },
): Promise<void> {
  await db
    .insertInto('message_contents')
    .values({
      ...row,
      reply_to: JSON.stringify(row.reply_to ? { email: row.reply_to } : null),
      settings: JSON.stringify(row.settings),
      categories: JSON.stringify(row.categories),
    })
    .execute();
}

export interface Member {
  contact_id: number;
  email: string;
  name: string | null;
  metadata: Record<string, unknown>;
  status: string;
  suppressed: boolean;
}

/** The next list members after the cursor, in contact id order, with what decides whether they get mail. */
export async function membersAfter(db: Kysely<DB>, campaign: CampaignRow, limit: number): Promise<Member[]> {
  const { rows } = await sql<Member>`
    select c.id as contact_id, c.email, c.name, c.metadata, c.status,
           exists (select 1 from suppressions s where s.key_id = c.key_id and s.email = lower(c.email)) as suppressed
    from list_members lm
    join contacts c on c.id = lm.contact_id
    where lm.list_id = ${campaign.list_id} and lm.contact_id > ${campaign.cursor_contact_id} and c.key_id = ${campaign.key_id}
    order by lm.contact_id
    limit ${limit}`.execute(db);
  return rows.map((r) => ({ ...r, contact_id: Number(r.contact_id), metadata: typeof r.metadata === 'string' ? JSON.parse(r.metadata) : (r.metadata ?? {}) }));
}

export interface NewBulkMessage {
  id: string;
  contact_id: number;
  to_email: string;
  to_name: string | null;
  personalization: Record<string, unknown>;
}

/** Inserts a chunk's messages; a contact that already has its message for this campaign is left alone. */
export async function insertCampaignMessages(db: Kysely<DB>, campaign: CampaignRow & { content_id: string }, messages: NewBulkMessage[], now: Date): Promise<number> {
  if (!messages.length) return 0;
  const inserted = await db
    .insertInto('messages')
    .values(
      messages.map((m) => ({
        id: m.id,
        key_id: campaign.key_id,
        content_id: campaign.content_id,
        request_id: null,
        channel: 'bulk' as const,
        lane: 1,
        status: 'queued' as const,
        to_email: m.to_email,
        to_name: m.to_name,
        personalization: JSON.stringify(m.personalization),
        due_at: now,
        lease_until: null,
        last_response: null,
        sent_at: null,
        updated_at: now,
        campaign_id: campaign.id,
        contact_id: m.contact_id,
      })),
    )
    .onConflict((oc) => oc.columns(['campaign_id', 'contact_id']).where('campaign_id', 'is not', null).doNothing())
    .returning('id')
    .execute();
  return inserted.length;
}

export async function advanceCursor(
  db: Kysely<DB>,
  campaignId: string,
  step: { cursor: number; recipients: number; skipped: number; done: boolean; contentId: string; now: Date },
): Promise<void> {
  await db
    .updateTable('campaigns')
    .set((eb) => ({
      cursor_contact_id: step.cursor,
      recipients: eb('recipients', '+', step.recipients),
      skipped_suppressed: eb('skipped_suppressed', '+', step.skipped),
      dispatch_done: step.done,
      content_id: step.contentId,
      started_at: eb.fn.coalesce('started_at', eb.val(step.now)),
      updated_at: step.now,
    }))
    .where('id', '=', campaignId)
    .execute();
}

/** Campaigns whose cursor passed the last member and whose every message is final become sent. */
export async function finishCampaigns(db: Kysely<DB>, now: Date): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    update campaigns c set status = 'sent', sent_at = ${now}, updated_at = ${now}
    where c.status = 'send' and c.dispatch_done
      and not exists (select 1 from messages m where m.campaign_id = c.id and m.status in ('queued', 'sending', 'deferred'))
    returning c.id`.execute(db);
  return rows.map((r) => r.id);
}
