import { sql, type Kysely } from 'kysely';
import { erasedHashOf, type HmacKeys } from '../suppressions/erased.ts';
import type { DB } from '../../db/schema.ts';
import { NEVER } from '../campaigns/repo.ts';
import type { Channel } from '../messages/tables.ts';
import { scopeTotals } from '../stats/repo.ts';
import { aggregateCounts, RECIPIENT_KEY_WINDOW_MS } from './rules.ts';
import type { BatchHold, BatchStatus, CanaryPlan, ProviderPolicy } from './tables.ts';

/** The SQL of batch submission: staging recipients, the set-based pre-check, and acceptance. */

export interface StagedRecipient {
  seq: number;
  email: string;
  name: string | null;
  variables: Record<string, unknown> | null;
  idempotency_key: string | null;
  /** Syntax and disposable-domain verdicts are made while streaming; the rest in SQL. */
  rejection: string | null;
}

export async function insertReceivingBatch(db: Kysely<DB>, row: { id: string; keyId: string; now: Date }): Promise<void> {
  await db.insertInto('batches').values({ id: row.id, key_id: row.keyId, status: 'receiving', channel: 'bulk', created_at: row.now, updated_at: row.now }).execute();
}

/**
 * One statement per chunk, whatever its size: a column array each, unnested by the database. A
 * recipient that passed the streaming checks gets its message id here, so acceptance never rewrites
 * every staged row; a later rejection clears it.
 */
export async function stageRecipients(db: Kysely<DB>, batchId: string, rows: StagedRecipient[]): Promise<void> {
  if (!rows.length) return;
  const seqs = rows.map((r) => r.seq);
  const emails = rows.map((r) => r.email);
  const names = rows.map((r) => r.name);
  const variables = rows.map((r) => (r.variables ? JSON.stringify(r.variables) : null));
  const keys = rows.map((r) => r.idempotency_key);
  const rejections = rows.map((r) => r.rejection);
  await sql`
    insert into batch_recipients (batch_id, seq, email, name, variables, idempotency_key, rejection, message_id)
    select ${batchId}, r.seq, r.email, r.name, r.variables::jsonb, r.idempotency_key, r.rejection,
           case when r.rejection is null then 'msg_' || substr(md5(${batchId}::text || ':' || r.seq), 1, 20) end
    from unnest(${seqs}::int[], ${emails}::text[], ${names}::text[], ${variables}::text[], ${keys}::text[], ${rejections}::text[])
         as r(seq, email, name, variables, idempotency_key, rejection)`.execute(db);
}

/** A batch that never became visible (bad body, replay, client gone): its staged rows go with it. */
export async function discardReceiving(db: Kysely<DB>, batchId: string): Promise<void> {
  await db.deleteFrom('batches').where('id', '=', batchId).where('status', '=', 'receiving').execute();
}

/** Receiving batches left by a process that died mid-upload. */
export async function discardAbandoned(db: Kysely<DB>, before: Date): Promise<number> {
  const result = await db.deleteFrom('batches').where('status', '=', 'receiving').where('created_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function rejectDomains(db: Kysely<DB>, batchId: string, domains: string[], reason: string): Promise<void> {
  if (!domains.length) return;
  await sql`
    update batch_recipients set rejection = ${reason}, message_id = null
    where batch_id = ${batchId} and rejection is null and lower(split_part(email, '@', 2)) = any(${domains}::text[])`.execute(db);
}

export interface Acceptance {
  batchId: string;
  keyId: string;
  channel: Channel;
  contentId: string;
  policy: ProviderPolicy | null;
  canary: CanaryPlan | null;
  idempotencyKey: string | null;
  customArgs: Record<string, string>;
  dueAt: Date;
  now: Date;
  /** The key's erased-address hash keys: recipients whose address was erased are suppressed too. */
  erased?: HmacKeys;
  submitted: number;
}

/**
 * The pre-check that needs the database, then the messages, in the caller's transaction: nothing
 * of the batch is visible or claimable before it commits. Per recipient: duplicates within the
 * batch (address, then idempotency key), suppressions for the channel, contact status, and
 * idempotency keys another batch of the key used in the last 24 h.
 */
export async function acceptStaged(trx: Kysely<DB>, a: Acceptance): Promise<{ accepted: number; rejected: number; canarySize: number }> {
  const b = a.batchId;
  await sql`
    update batch_recipients r set rejection = 'duplicate', message_id = null
    from (select seq, row_number() over (partition by lower(email) order by seq) as rn from batch_recipients where batch_id = ${b} and rejection is null) d
    where r.batch_id = ${b} and r.seq = d.seq and d.rn > 1`.execute(trx);
  await sql`
    update batch_recipients r set rejection = 'duplicate_idempotency_key', message_id = null
    from (select seq, row_number() over (partition by idempotency_key order by seq) as rn from batch_recipients
          where batch_id = ${b} and rejection is null and idempotency_key is not null) d
    where r.batch_id = ${b} and r.seq = d.seq and d.rn > 1`.execute(trx);
  const transactional = a.channel === 'trans';
  await sql`
    update batch_recipients r set rejection = 'suppressed_' || s.reason, message_id = null
    from suppressions s
    where r.batch_id = ${b} and r.rejection is null and s.key_id = ${a.keyId} and s.email = lower(r.email)
      and (not ${transactional} or s.reason in ('bounce', 'complaint'))`.execute(trx);
  if (a.erased) {
    // Hashing every recipient only when the key has erased entries at all (a one-time filter).
    await sql`
      update batch_recipients r set rejection = 'suppressed_' || e.reason
      from erased_suppressions e
      where r.batch_id = ${b} and r.rejection is null and e.key_id = ${a.keyId} and e.email_hash = ${erasedHashOf(a.erased, sql`r.email`)}
        and (not ${transactional} or e.reason in ('bounce', 'complaint'))
        and exists (select 1 from erased_suppressions where key_id = ${a.keyId})`.execute(trx);
  }
  await sql`
    update batch_recipients r set rejection = 'contact_' || c.status, message_id = null
    from contacts c
    where r.batch_id = ${b} and r.rejection is null and c.key_id = ${a.keyId} and lower(c.email) = lower(r.email)
      and c.status in ('bounced', 'complained', 'unsubscribed') and (not ${transactional} or c.status <> 'unsubscribed')`.execute(trx);
  const cutoff = new Date(a.now.getTime() - RECIPIENT_KEY_WINDOW_MS);
  await sql`
    insert into batch_recipient_keys (key_id, idempotency_key, batch_id, created_at)
    select ${a.keyId}, r.idempotency_key, ${b}, ${a.now} from batch_recipients r
    where r.batch_id = ${b} and r.rejection is null and r.idempotency_key is not null
    on conflict (key_id, idempotency_key) do update set batch_id = excluded.batch_id, created_at = excluded.created_at, message_id = null
    where batch_recipient_keys.created_at < ${cutoff}`.execute(trx);
  await sql`
    update batch_recipients r set rejection = 'duplicate_idempotency_key', message_id = null
    where r.batch_id = ${b} and r.rejection is null and r.idempotency_key is not null
      and not exists (select 1 from batch_recipient_keys k where k.key_id = ${a.keyId} and k.idempotency_key = r.idempotency_key and k.batch_id = ${b})`.execute(trx);
  if (a.canary) {
    // The slice: the first `size` accepted recipients in the order of a hash keyed by the recorded seed.
    await sql`
      update batch_recipients set canary = true
      where batch_id = ${b} and seq in (
        select seq from batch_recipients where batch_id = ${b} and rejection is null order by md5(${a.canary.seed} || ':' || seq) limit ${a.canary.size})`.execute(trx);
  }
  // Only the canary slice becomes messages here (it sends first); the rest is made by the worker's
  // slice dispatcher (src/workers/batch-dispatcher.ts), already claimed for its sender, so the
  // acceptance transaction writes no message index entry per recipient.
  const lane = transactional ? 0 : 1;
  if (a.canary) {
    await sql`
      insert into messages (id, key_id, content_id, request_id, channel, lane, status, to_email, to_name, personalization, due_at, updated_at, batch_id)
      select r.message_id, ${a.keyId}, ${a.contentId}, ${b}, ${a.channel}, ${lane}, 'queued', r.email, r.name,
             jsonb_build_object('variables', coalesce(r.variables, '{}'::jsonb) || jsonb_build_object('name', coalesce(r.name, ''), 'email', r.email),
                                'custom_args', ${JSON.stringify(a.customArgs)}::jsonb),
             ${a.dueAt}::timestamptz, ${a.now}, ${b}
      from batch_recipients r where r.batch_id = ${b} and r.message_id is not null and r.canary
      order by r.seq`.execute(trx);
  }
  await sql`
    update batch_recipient_keys k set message_id = r.message_id
    from batch_recipients r
    where r.batch_id = ${b} and r.message_id is not null and r.idempotency_key is not null
      and k.key_id = ${a.keyId} and k.idempotency_key = r.idempotency_key`.execute(trx);
  const { rows: tally } = await sql<{ accepted: number }>`
    select count(*)::int as accepted from batch_recipients where batch_id = ${b} and message_id is not null`.execute(trx);
  const accepted = Number(tally[0]!.accepted);
  const rejected = a.submitted - accepted;
  const canarySize = a.canary ? Math.min(a.canary.size, accepted) : 0;
  const canary = a.canary ? { ...a.canary, size: canarySize } : null;
  await trx
    .updateTable('batches')
    .set({
      status: accepted === 0 ? 'completed' : 'accepted',
      outcome: accepted === 0 ? 'failed' : null,
      completed_at: accepted === 0 ? a.now : null,
      channel: a.channel,
      content_id: a.contentId,
      idempotency_key: a.idempotencyKey,
      policy: a.policy ? JSON.stringify(a.policy) : null,
      canary: canary ? JSON.stringify(canary) : null,
      submitted: a.submitted,
      accepted,
      rejected,
      send_at: a.dueAt,
      updated_at: a.now,
      custom_args: JSON.stringify(a.customArgs),
    })
    .where('id', '=', b)
    .execute();
  if (accepted > canarySize) await trx.insertInto('batch_releases').values({ batch_id: b, key_id: a.keyId, updated_at: a.now }).execute();
  return { accepted, rejected, canarySize };
}

export async function rejections(db: Kysely<DB>, batchId: string, limit: number): Promise<{ index: number; email: string; reason: string }[]> {
  const rows = await db
    .selectFrom('batch_recipients')
    .select(['seq', 'email', 'rejection'])
    .where('batch_id', '=', batchId)
    .where('rejection', 'is not', null)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ index: r.seq, email: r.email, reason: r.rejection! }));
}

export async function rejectionsByReason(db: Kysely<DB>, batchId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('batch_recipients')
    .select(['rejection', (eb) => eb.fn.countAll<number>().as('n')])
    .where('batch_id', '=', batchId)
    .where('rejection', 'is not', null)
    .groupBy('rejection')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.rejection!, Number(r.n)]));
}

export interface BatchRow {
  id: string;
  key_id: string;
  status: BatchStatus;
  outcome: 'success' | 'partial' | 'failed' | null;
  channel: Channel;
  content_id: string | null;
  idempotency_key: string | null;
  policy: ProviderPolicy | null;
  canary: CanaryPlan | null;
  hold: BatchHold | null;
  submitted: number;
  accepted: number;
  rejected: number;
  send_at: Date | null;
  progress_seq: number;
  progress_at: Date | null;
  webhook_progress_at: Date | null;
  /** The counts by message state of the last progress row (null before the first). */
  progress_counts: Record<string, number> | null;
  /** Failures retry-failed took back. */
  requeued: number;
  created_at: Date;
  completed_at: Date | null;
}

const parse = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

export function toBatchRow(r: Record<string, unknown>): BatchRow {
  return { ...(r as unknown as BatchRow), policy: parse(r.policy), canary: parse(r.canary), hold: parse(r.hold), progress_counts: parse(r.progress_counts ?? null) };
}

const VISIBLE: BatchStatus[] = ['accepted', 'canary', 'awaiting_approval', 'sending', 'completed', 'cancelled'];

export async function findBatch(db: Kysely<DB>, keyId: string | null, id: string, forUpdate = false): Promise<BatchRow | undefined> {
  let q = db.selectFrom('batches').selectAll().where('id', '=', id).where('status', 'in', VISIBLE);
  if (keyId !== null) q = q.where('key_id', '=', keyId);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row ? toBatchRow(row) : undefined;
}

export async function listBatches(db: Kysely<DB>, keyId: string | null, limit: number, offset: number): Promise<{ rows: BatchRow[]; total: number }> {
  let q = db.selectFrom('batches').where('status', 'in', VISIBLE);
  if (keyId !== null) q = q.where('key_id', '=', keyId);
  const [rows, total] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
    q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows.map(toBatchRow), total: Number(total.n) };
}

/** A batch's counts by message state from its aggregates (a few stat_counts rows, whatever its size). */
export async function batchCounts(db: Kysely<DB>, batch: Pick<BatchRow, 'id' | 'key_id' | 'accepted' | 'requeued'>): Promise<Record<string, number>> {
  return aggregateCounts(await scopeTotals(db, 'batch', batch.key_id, batch.id), batch.accepted, batch.requeued);
}

export async function setStatus(db: Kysely<DB>, id: string, status: BatchStatus, now: Date, extra: { hold?: BatchHold | null; outcome?: BatchRow['outcome']; completed?: boolean } = {}): Promise<void> {
  await db
    .updateTable('batches')
    .set({
      status,
      updated_at: now,
      ...(extra.hold !== undefined ? { hold: extra.hold ? JSON.stringify(extra.hold) : null } : {}),
      ...(extra.outcome !== undefined ? { outcome: extra.outcome } : {}),
      ...(extra.completed ? { completed_at: now } : {}),
    })
    .where('id', '=', id)
    .execute();
}
