import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { NEVER } from '../campaigns/repo.ts';
import { emitEvent, hasSubscriber, messageEventData, newEventId } from '../events/outbox.ts';
import { countInto } from '../stats/counting.ts';
import { batchCounts, toBatchRow, type BatchRow } from './repo.ts';

/**
 * A batch's progress: each status change and each move of its counts becomes a numbered row of
 * batch_progress (what the event stream reads and resumes from, by number), and an outbox event
 * for webhooks, written in the transaction of the change.
 */

/** Webhooks hear of counts moving at most this often; status changes always. */
export const WEBHOOK_PROGRESS_MS = 10_000;
/** The event stream's progress at most once a second. */
export const STREAM_PROGRESS_MS = 1000;

export const FINAL_STATUSES = ['completed', 'cancelled'];

async function batchRow(db: Kysely<DB>, id: string): Promise<BatchRow> {
  return toBatchRow((await db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirstOrThrow()) as Record<string, unknown>);
}

export function eventData(row: BatchRow, counts: Record<string, number>): Record<string, unknown> {
  return {
    batch_id: row.id,
    key_id: row.key_id,
    status: row.status,
    outcome: row.outcome,
    counts: { submitted: row.submitted, accepted: row.accepted, rejected: row.rejected, ...counts },
    hold: row.hold,
  };
}

/**
 * Writes the batch's current state as its next progress row (batch.completed once final) and as
 * a webhook event: always when `statusChanged`, else only when webhooks have not heard for a while.
 */
export async function recordChange(db: Kysely<DB>, id: string, at: Date, statusChanged = true, countsNow?: Record<string, number>): Promise<void> {
  const row = await batchRow(db, id);
  const counts = countsNow ?? (await batchCounts(db, row));
  const type = FINAL_STATUSES.includes(row.status) ? 'batch.completed' : 'batch.progress';
  const data = eventData(row, counts);
  const seq = row.progress_seq + 1;
  await db.insertInto('batch_progress').values({ batch_id: id, seq, type, at, data: JSON.stringify(data) }).execute();
  const toWebhooks = statusChanged || !row.webhook_progress_at || at.getTime() - new Date(row.webhook_progress_at).getTime() >= WEBHOOK_PROGRESS_MS;
  await db
    .updateTable('batches')
    .set({ progress_seq: seq, progress_at: at, progress_counts: JSON.stringify(counts), ...(toWebhooks ? { webhook_progress_at: at } : {}) })
    .where('id', '=', id)
    .execute();
  if (toWebhooks) await emitEvent(db, { keyId: row.key_id, type, data }, at);
}

/** Cancelling drops what has not been handed to a provider yet, each with its message.dropped event. */
export async function dropUnsent(db: Kysely<DB>, batchId: string, reason: string, now: Date): Promise<void> {
  await sql`
    with dropped as (
      update messages set status = 'dropped', last_response = ${reason}, updated_at = ${now}
      where batch_id = ${batchId} and status in ('queued', 'deferred')
      returning id, key_id, to_email, channel, campaign_id, batch_id, request_id, content_id, personalization
    ), counted as (
      ${countInto(sql`select key_id, channel, campaign_id, batch_id, null::text as sequence_id, 'dropped' as counter from dropped`, now)}
    )
    insert into events (id, key_id, type, at, data)
    select ${newEventId}, m.key_id, 'message.dropped', ${now}, ${messageEventData('m', 'c')} || jsonb_build_object('reason', ${reason}::text, 'response', ${reason}::text)
    from dropped m join message_contents c on c.id = m.content_id
    where ${hasSubscriber(sql.ref('m.key_id'), 'message.dropped')}`.execute(db);
}

/** The rest of a batch after its canary: due now. */
export async function releaseHeld(db: Kysely<DB>, batchId: string, now: Date): Promise<void> {
  await db.updateTable('messages').set({ due_at: now, updated_at: now }).where('batch_id', '=', batchId).where('status', '=', 'queued').where('due_at', '>=', NEVER).execute();
}

/** Finally failed messages queued again as new attempts; bounced, dropped and sent ones stay as they are. */
export async function requeueFailed(db: Kysely<DB>, batchId: string, now: Date): Promise<number> {
  // A fresh retry window: attempts and first attempt start over.
  const result = await sql`
    update messages set status = 'queued', attempts = 0, first_attempt_at = null, due_at = ${now}, updated_at = ${now}
    where batch_id = ${batchId} and status = 'failed'`.execute(db);
  const n = Number(result.numAffectedRows ?? 0n);
  // The aggregates keep these failures; the batch's counts take them back.
  if (n > 0) await db.updateTable('batches').set((eb) => ({ requeued: eb('requeued', '+', n) })).where('id', '=', batchId).execute();
  return n;
}

export interface CanaryResult {
  /** Canary messages not final yet. */
  open: number;
  size: number;
  bounced: number;
  complained: number;
}

export async function canaryResult(db: Kysely<DB>, batchId: string): Promise<CanaryResult> {
  const { rows } = await sql<{ open: number; size: number; bounced: number; complained: number }>`
    select count(*) filter (where m.status in ('queued', 'sending', 'deferred'))::int as open,
           count(*)::int as size,
           count(*) filter (where m.status = 'bounced')::int as bounced,
           count(*) filter (where exists (select 1 from message_events e where e.message_id = m.id and e.type = 'complained'))::int as complained
    from batch_recipients r join messages m on m.id = r.message_id
    where r.batch_id = ${batchId} and r.canary`.execute(db);
  const r = rows[0]!;
  return { open: Number(r.open), size: Number(r.size), bounced: Number(r.bounced), complained: Number(r.complained) };
}

/** A live batch under its row lock (held until the caller's transaction ends), or nothing if another worker holds it. */
export async function claimLive(db: Kysely<DB>, id: string): Promise<BatchRow[]> {
  const rows = await db
    .selectFrom('batches')
    .selectAll()
    .where('id', '=', id)
    .where('status', 'in', ['accepted', 'canary', 'sending'])
    .forUpdate()
    .skipLocked()
    .execute();
  return rows.map((r) => toBatchRow(r as Record<string, unknown>));
}

export async function progressAfter(db: Kysely<DB>, batchId: string, afterSeq: number, limit = 100) {
  return db.selectFrom('batch_progress').selectAll().where('batch_id', '=', batchId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}
