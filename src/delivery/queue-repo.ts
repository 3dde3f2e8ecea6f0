import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import { indexAccessOnly } from '../db/planner.ts';
import { PREPARED } from '../db/prepared.ts';
import { hasSubscriber, messageEventData, newEventId } from '../modules/events/outbox.ts';
import type { Channel, MessageStatus } from '../modules/messages/tables.ts';
import { recordStepOutcomes, type StepOutcome } from '../modules/sequences/outcome-repo.ts';
import { countInto, sequenceOf } from '../modules/stats/counting.ts';
import type { ContentInput, Personalization, StoredAttachment } from './compose.ts';
import { base64LinesWriter } from './mime-encoding.ts';

/** Every SQL statement of the send job: claiming due messages, loading content, recording outcomes. */

export interface ClaimedMessage {
  id: string;
  key_id: string;
  content_id: string;
  channel: Channel;
  lane: number;
  to_email: string;
  to_name: string | null;
  personalization: Personalization;
  attempts: number;
  first_attempt_at: Date;
  /** The campaign a bulk message belongs to, if any. */
  campaign_id: string | null;
  /** The batch a message belongs to, if any (absent in the hand-off rows of campaigns and sequences). */
  batch_id?: string | null;
}

/**
 * Claims up to `limit` due messages of one lane: queued or deferred and due, or sending with a
 * lapsed lease (a worker died). Marks them sending with a lease and counts the attempt.
 */
export async function claimDue(db: Kysely<DB>, lane: number, limit: number, now: Date, leaseMs: number): Promise<ClaimedMessage[]> {
  if (limit <= 0) return [];
  const leaseUntil = new Date(now.getTime() + leaseMs);
  const { rows } = await sql<ClaimedMessage>`
    with lapsed as (
      select id from messages
      where status = 'sending' and lease_until < ${now} and lane = ${lane}
      order by lease_until
      limit ${limit}
      for update skip locked
    ), fresh as (
      select id from messages
      where lane = ${lane} and status in ('queued', 'deferred') and due_at <= ${now}
      order by due_at
      limit ${limit}
      for update skip locked
    ), due as (
      -- Two index walks that each stop at the limit; one OR-ed scan would read every due row.
      select id from (select id from lapsed union all select id from fresh) both_kinds limit ${limit}
    )
    update messages m
    set status = 'sending', lease_until = ${leaseUntil}, attempts = m.attempts + 1,
        first_attempt_at = coalesce(m.first_attempt_at, ${now}), updated_at = ${now}
    -- An id array keeps this a primary-key probe per row; a join with the CTE was planned as a
    -- hash join over a sequential scan of the whole table.
    where m.id = any (array(select id from due))
    returning m.id, m.key_id, m.content_id, m.channel, m.lane, m.to_email, m.to_name, m.personalization, m.attempts, m.first_attempt_at, m.campaign_id, m.batch_id`.execute(db);
  return rows.map(toClaimed);
}

function parseJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** A claimed row as the driver hands it over, or as JSON (created already claimed: see hand-off.ts). */
export function toClaimed(row: ClaimedMessage | (Omit<ClaimedMessage, 'first_attempt_at'> & { first_attempt_at: string })): ClaimedMessage {
  return { ...row, personalization: parseJson(row.personalization) ?? {}, first_attempt_at: new Date(row.first_attempt_at) };
}

/** Rows of claimed messages aggregated with json_agg. */
export function claimedFromJson(value: unknown): ClaimedMessage[] {
  return parseJson<Parameters<typeof toClaimed>[0][]>(value).map(toClaimed);
}

/** Of the given campaigns, those paused or cancelled since their messages were claimed. */
export async function haltedCampaigns(db: Kysely<DB>, campaignIds: string[]): Promise<Map<string, 'paused' | 'cancelled'>> {
  if (!campaignIds.length) return new Map();
  const { rows } = await sql<{ id: string; status: 'paused' | 'cancelled' }>`${PREPARED}
    select id, status from campaigns where id = any(${campaignIds}::text[]) and status in ('paused', 'cancelled')`.execute(db);
  return new Map(rows.map((r) => [r.id, r.status]));
}

/**
 * The contents' stored attachments, read part by part as base64 text (PostgreSQL encodes it: bytea would
 * come as hex, twice its size, and be decoded again) into the base64 lines the MIME part carries, so
 * loading one holds that Buffer and one part's text, never the file twice.
 */
async function loadAttachments(db: Kysely<DB>, ids: string[]): Promise<Map<string, StoredAttachment[]>> {
  const byContent = new Map<string, StoredAttachment[]>();
  const { rows } = await sql<{ content_id: string; seq: number; filename: string; type: string | null; disposition: 'attachment' | 'inline'; cid: string | null; size: number; parts: number }>`
    select content_id, seq, filename, type, disposition, cid, sum(octet_length(data))::int as size, count(*)::int as parts
    from message_attachments where content_id = any(${ids}::text[])
    group by content_id, seq, filename, type, disposition, cid order by content_id, seq`.execute(db);
  for (const row of rows) {
    const writer = base64LinesWriter(row.size);
    for (let part = 0; part < row.parts; part++) {
      const { rows: piece } = await sql<{ data: string }>`
        select encode(data, 'base64') as data from message_attachments where content_id = ${row.content_id} and seq = ${row.seq} and part = ${part}`.execute(db);
      writer.write(piece[0]!.data);
    }
    const list = byContent.get(row.content_id) ?? [];
    list.push({ filename: row.filename, type: row.type ?? undefined, disposition: row.disposition, content_id: row.cid ?? undefined, encoded: writer.done() });
    byContent.set(row.content_id, list);
  }
  return byContent;
}

export async function loadContents(db: Kysely<DB>, ids: string[]): Promise<Array<ContentInput & { key_id: string }>> {
  if (!ids.length) return [];
  const stored = await loadAttachments(db, ids);
  const rows = await db
    .selectFrom('message_contents')
    .select(['id', 'key_id', 'from_email', 'from_name', 'reply_to', 'subject', 'html', 'text', 'headers', 'attachments', 'settings', 'raw_mime'])
    .where('id', 'in', ids)
    .execute();
  return rows.map((r) => ({
    ...r,
    // PGlite hands bytea over as a Uint8Array, pg as a Buffer.
    raw_mime: r.raw_mime ? Buffer.from(r.raw_mime.buffer, r.raw_mime.byteOffset, r.raw_mime.byteLength) : null,
    reply_to: parseJson(r.reply_to),
    headers: parseJson(r.headers) ?? {},
    // Contents queued before attachments had their own table still carry them in the jsonb column.
    attachments: [...(parseJson<unknown[]>(r.attachments) ?? []), ...(stored.get(r.id) ?? [])],
    settings: parseJson(r.settings) ?? {},
  }));
}

/** The outcome of one attempt, written only if the message is still ours (same attempt, still sending). */
export interface Outcome {
  id: string;
  attempts: number;
  status: Exclude<MessageStatus, 'sending'>;
  dueAt: Date | null;
  response: string | null;
  sentAt: Date | null;
  event: { type: string; data: Record<string, unknown> } | null;
  /** The provider the attempt went to (none when it was never handed to one). */
  provider?: string | null;
  /** The id the provider gave the accepted message (email service providers). */
  providerMessageId?: string | null;
}

/**
 * Writes outcomes and their events in one statement, whatever their number. Returns the ids updated.
 * A prepared statement (planning it cost more than running it for the few outcomes of a slow
 * send), in a transaction of index access only: its generic plan may be made while messages is
 * nearly empty, and kept while it grows.
 */
export async function recordOutcomes(db: Kysely<DB>, outcomes: Outcome[], now: Date): Promise<string[]> {
  if (!outcomes.length) return [];
  const { rows } = await db.transaction().execute(async (trx) => {
    await indexAccessOnly(trx);
    const result = await outcomeStatement(outcomes, now).execute(trx);
    // A sequence step's outcome moves its subscriber on, in this same transaction (so the subscriber
    // never misses an outcome that committed). Campaign and transactional outcomes skip this.
    const steps = stepOutcomes(outcomes, result.rows, now);
    if (steps.length) await recordStepOutcomes(trx, steps, now);
    return result;
  });
  return rows.map((u) => u.id);
}

/** The updated rows that are sequence steps, with their outcomes (a failure counts from `now`). */
function stepOutcomes(outcomes: Outcome[], updated: OutcomeRow[], now: Date): StepOutcome[] {
  const steps: StepOutcome[] = [];
  let byId: Map<string, Outcome> | undefined;
  for (const row of updated) {
    if (row.sequence_subscriber_id === null || row.sequence_step_position === null) continue;
    byId ??= new Map(outcomes.map((o) => [o.id, o]));
    const o = byId.get(row.id)!;
    const reason = o.event?.data.reason;
    steps.push({
      messageId: row.id,
      subscriberId: row.sequence_subscriber_id,
      position: row.sequence_step_position,
      status: o.status,
      at: o.sentAt ?? now,
      response: o.response,
      dropReason: typeof reason === 'string' ? reason : null,
    });
  }
  return steps;
}

interface OutcomeRow {
  id: string;
  sequence_subscriber_id: string | null;
  sequence_step_position: number | null;
}

/** The statement of recordOutcomes (exported for the test of its plan). */
export function outcomeStatement(outcomes: Outcome[], now: Date) {
  const rows = JSON.stringify(
    outcomes.map((o) => ({
      id: o.id,
      attempts: o.attempts,
      status: o.status,
      due_at: o.dueAt?.toISOString() ?? null,
      last_response: o.response,
      sent_at: o.sentAt?.toISOString() ?? null,
      event_type: o.event?.type ?? null,
      event_data: o.event?.data ?? null,
      provider: o.provider ?? null,
      provider_message_id: o.providerMessageId ?? null,
    })),
  );
  return sql<OutcomeRow>`${PREPARED}
    with v as (
      select * from jsonb_to_recordset(${rows}::jsonb)
        as v(id text, attempts int, status text, due_at timestamptz, last_response text, sent_at timestamptz, event_type text, event_data jsonb, provider text, provider_message_id text)
    ), updated as (
      update messages m
      set status = v.status, lease_until = null, updated_at = ${now},
          due_at = coalesce(v.due_at, m.due_at),
          last_response = coalesce(v.last_response, m.last_response),
          sent_at = coalesce(v.sent_at, m.sent_at),
          provider = coalesce(v.provider, m.provider),
          provider_message_id = coalesce(v.provider_message_id, m.provider_message_id),
          attempts = case when v.status in ('queued', 'deferred') and v.last_response is null then m.attempts - 1 else m.attempts end
      from v
      -- The id array makes it a primary-key probe per row rather than a walk of every message in flight.
      -- Sending is the only status with a lease (a constraint holds it). Asked for the status, the
      -- planner ANDed in the messages_lease index, reading the entry of every message sent since
      -- the last vacuum.
      where m.id = any (array(select id from v)) and m.id = v.id and m.lease_until is not null and m.attempts = v.attempts
      returning m.id, m.key_id, m.to_email, m.channel, m.campaign_id, m.batch_id, m.request_id, m.content_id, m.personalization, m.sequence_subscriber_id, m.sequence_step_position
    ), events as (
      insert into message_events (message_id, type, at, data)
      select v.id, v.event_type, ${now}, v.event_data from v join updated u on u.id = v.id
      where v.event_type is not null
    ), reported as materialized (
      -- The webhook events of these outcomes (a release back to the queue is none), only for keys
      -- with a subscribed endpoint; the outbox row commits with the outcome or not at all.
      select u.*, v.status, v.last_response, v.event_data from updated u join v on v.id = u.id
      where (v.event_type is not null or v.status = 'sent') and ${hasSubscriber(sql.ref('u.key_id'), sql`'message.' || v.status`)}
    ), webhook_events as (
      insert into events (id, key_id, type, at, data)
      select ${newEventId}, m.key_id, 'message.' || m.status, ${now},
             ${messageEventData('m', 'c')} || jsonb_build_object('response', m.last_response) || coalesce(m.event_data - 'response', '{}'::jsonb)
      from reported m join message_contents c on c.id = m.content_id
    ), counted as (
      -- The aggregates, one upsert per key, campaign, batch and sequence of these outcomes (a
      -- release back to the queue counts nothing).
      ${countInto(
        sql`select u.key_id, u.channel, u.campaign_id, u.batch_id, ${sequenceOf(sql.ref('u.sequence_subscriber_id'))} as sequence_id, v.status as counter
            from updated u join v on v.id = u.id where v.event_type is not null or v.status = 'sent'`,
        now,
      )}
    )
    select id, sequence_subscriber_id, sequence_step_position from updated`;
}
