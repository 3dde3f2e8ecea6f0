import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { indexAccessOnly } from '../../db/planner.ts';
import { PREPARED } from '../../db/prepared.ts';
import { hasSubscriber, newEventId } from '../events/outbox.ts';
import { claimedFromJson, type ClaimedMessage } from '../../delivery/queue-repo.ts';
import type { CampaignRow } from './repo.ts';
import { erasedHashOf, type HmacKeys } from '../suppressions/erased.ts';
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

export interface ChunkResult {
  /** Members read after the cursor (at most `limit`). */
  members: number;
  /** The last member's contact id, the new cursor (null when none were left). */
  lastContactId: number | null;
  /** Messages created (a contact that already has its message for this campaign gets none). */
  inserted: number;
  /** Members held back: status bounced, complained or unsubscribed, or on the suppression list. */
  skipped: number;
  /** With a lease: the created messages, already claimed by the caller (empty otherwise). */
  claimed: ClaimedMessage[];
}

interface ChunkRow {
  members: number;
  last_id: number | null;
  inserted: number;
  skipped: number;
  claimed: unknown;
}

/**
 * One chunk in one statement: the next members after the cursor, in contact id order; a bulk
 * message (lane 1) for each active, unsuppressed one with its personalization variables; the rest
 * counted as skipped. Set-based, so a chunk costs one round trip whatever its size. Without a
 * lease the messages are queued for any worker; with one they are created as claimed by the
 * caller (status sending, first attempt counted) and returned. Run it in a transaction: right after
 * a list's import its statistics are stale, and the planner, expecting a few members, read every
 * one after the cursor in a bitmap scan on each chunk; with index access only, the chunk walks its
 * page of the list's key.
 */
export async function dispatchChunk(
  db: Kysely<DB>,
  campaign: CampaignRow & { content_id: string },
  limit: number,
  now: Date,
  leaseUntil: Date | null = null,
  erased?: HmacKeys,
): Promise<ChunkResult> {
  await indexAccessOnly(db);
  const { rows } = await chunkStatement(campaign, limit, now, leaseUntil, erased).execute(db);
  const r = rows[0]!;
  return {
    members: Number(r.members),
    lastContactId: r.last_id === null ? null : Number(r.last_id),
    inserted: Number(r.inserted),
    skipped: Number(r.skipped),
    claimed: claimedFromJson(r.claimed),
  };
}

/** The statement of dispatchChunk (exported for the test of its plan). */
export function chunkStatement(campaign: CampaignRow & { content_id: string }, limit: number, now: Date, leaseUntil: Date | null, erased?: HmacKeys) {
  const leased = leaseUntil !== null;
  // An erased address is suppressed by its hash alone; hashing runs only when the key has such entries (an init plan).
  const erasedEntry = erased
    ? sql`or ((select exists (select 1 from erased_suppressions where key_id = ${campaign.key_id}))
              and exists (select 1 from erased_suppressions e where e.key_id = c.key_id and e.email_hash = ${erasedHashOf(erased, sql`c.email`)}))`
    : sql``;
  return sql<ChunkRow>`${PREPARED}
    with page as (
      -- The page is cut from the list's primary key before any join: joined first, the planner
      -- hashed every member after the cursor on each chunk.
      select contact_id from list_members
      where list_id = ${campaign.list_id} and contact_id > ${campaign.cursor_contact_id}
      order by contact_id
      limit ${limit}
    ), members as (
      select c.id, c.email, c.name, c.metadata, c.status,
             (exists (select 1 from suppressions s where s.key_id = c.key_id and s.email = lower(c.email)) ${erasedEntry}) as suppressed
      from contacts c
      where c.id = any (array(select contact_id from page)) and c.key_id = ${campaign.key_id}
    ), inserted as (
      insert into messages (id, key_id, content_id, channel, lane, status, to_email, to_name, personalization, due_at, updated_at, campaign_id, contact_id,
                            lease_until, attempts, first_attempt_at)
      select 'msg_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 20), ${campaign.key_id}, ${campaign.content_id}, 'bulk', 1,
             ${leased ? 'sending' : 'queued'},
             m.email, m.name,
             jsonb_build_object('variables', jsonb_build_object('name', coalesce(m.name, ''), 'email', m.email, 'metadata', m.metadata, 'contact_id', m.id)),
             ${now}, ${now}, ${campaign.id}, m.id,
             ${leaseUntil}::timestamptz, ${leased ? 1 : 0}::int, ${leased ? now : null}::timestamptz
      from members m
      where m.status = 'active' and not m.suppressed
      order by m.id
      on conflict (campaign_id, contact_id) where campaign_id is not null do nothing
      returning id, key_id, content_id, channel, lane, to_email, to_name, personalization, attempts, first_attempt_at, campaign_id
    )
    select (select count(*) from page)::int as members,
           (select max(contact_id) from page) as last_id,
           (select count(*) from inserted)::int as inserted,
           (select count(*) from members where status <> 'active' or suppressed)::int as skipped,
           case when ${leased} then (select coalesce(json_agg(i), '[]'::json) from inserted i) else '[]'::json end as claimed`;
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
    with finished as (
      update campaigns c set status = 'sent', sent_at = ${now}, updated_at = ${now}
      where c.status = 'send' and c.dispatch_done
        and not exists (select 1 from messages m where m.campaign_id = c.id and m.status in ('queued', 'sending', 'deferred'))
      returning c.id, c.key_id, c.name
    ), reported as (
      insert into events (id, key_id, type, at, data)
      select ${newEventId}, f.key_id, 'campaign.sent', ${now}, jsonb_build_object('campaign_id', f.id, 'key_id', f.key_id, 'name', f.name, 'status', 'sent')
      from finished f where ${hasSubscriber(sql.ref('f.key_id'), 'campaign.sent')}
    )
    select id from finished`.execute(db);
  return rows.map((r) => r.id);
}
