import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

export interface ChannelQueue {
  channel: string;
  /** Queued or deferred messages due now. */
  due: number;
  /** Queued or deferred messages due later (retries, scheduled). */
  waiting: number;
  /** Messages claimed by a sender, and those whose sender's lease lapsed (its process died). */
  leased: number;
  lapsed: number;
  /** Due time of the oldest due message, or null. */
  oldestDueAt: Date | null;
}

/** The queue per channel, from the messages still in flight (the partial due and lease indexes). */
export async function queueSummary(db: Kysely<DB>, now: Date): Promise<ChannelQueue[]> {
  const { rows } = await sql<{ channel: string; due: number; waiting: number; leased: number; lapsed: number; oldest: Date | string | null }>`
    select channel,
      count(*) filter (where status in ('queued', 'deferred') and due_at <= ${now})::int as due,
      count(*) filter (where status in ('queued', 'deferred') and due_at > ${now})::int as waiting,
      count(*) filter (where status = 'sending' and lease_until >= ${now})::int as leased,
      count(*) filter (where status = 'sending' and lease_until < ${now})::int as lapsed,
      min(due_at) filter (where status in ('queued', 'deferred') and due_at <= ${now}) as oldest
    from messages where status in ('queued', 'deferred', 'sending')
    group by channel`.execute(db);
  const byChannel = new Map(rows.map((r) => [r.channel, r]));
  return ['trans', 'bulk'].map((channel) => {
    const r = byChannel.get(channel);
    return { channel, due: r?.due ?? 0, waiting: r?.waiting ?? 0, leased: r?.leased ?? 0, lapsed: r?.lapsed ?? 0, oldestDueAt: r?.oldest ? new Date(r.oldest) : null };
  });
}

export interface CampaignProgress {
  id: string;
  recipients: number;
  pending: number;
  sent: number;
  failed: number;
}

/** Campaigns being sent: their recipients so far and their messages by state. */
export async function sendingCampaigns(db: Kysely<DB>): Promise<CampaignProgress[]> {
  const { rows } = await sql<CampaignProgress>`
    select c.id, c.recipients,
      count(m.id) filter (where m.status in ('queued', 'deferred', 'sending'))::int as pending,
      count(m.id) filter (where m.status = 'sent')::int as sent,
      count(m.id) filter (where m.status in ('bounced', 'failed', 'dropped'))::int as failed
    from campaigns c left join messages m on m.campaign_id = c.id
    where c.status = 'send' and c.started_at is not null
    group by c.id, c.recipients
    order by c.id
    limit 100`.execute(db);
  return rows;
}
