import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

/**
 * The statements of retention. Each removes at most `limit` rows in its own short transaction, found
 * through an index that leads with the time order, so no statement holds many locks or for long.
 * Messages in flight (queued, sending, deferred) are never removed, however old; nor is a content
 * that a message still uses.
 */

const FINAL = sql`('sent', 'bounced', 'failed', 'dropped')`;

/**
 * One statement in its own short transaction with JIT off. Over a large messages table the planner
 * costs these statements above jit_above_cost though each touches at most `limit` rows: compiling
 * them took 70-270 ms a round where running them took 1-55 ms (EXPLAIN ANALYZE over 10 million
 * messages, docs/benchmarks.md), and that CPU was taken from sending.
 */
async function withoutJit<T>(db: Kysely<DB>, statement: (trx: Kysely<DB>) => Promise<T>, probesOnly = false): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx);
    // The content statements' probes of messages must go through an index: see `unused`.
    if (probesOnly) await sql`set local enable_seqscan = off`.execute(trx);
    return statement(trx);
  });
}

/**
 * A content that a campaign, batch or sequence step names is theirs (a step's serves every future
 * subscriber): kept, body and all, while they are. One per campaign, batch or step.
 */
const OWNED = (content: ReturnType<typeof sql.ref>) => sql`(
  exists (select 1 from campaigns o where o.content_id = ${content})
  or exists (select 1 from batches o where o.content_id = ${content})
  or exists (select 1 from sequence_steps o where o.content_id = ${content}))`;

/**
 * No message (matching `also`) uses content c. Asked as "the least content_id of its messages is
 * null", which PostgreSQL answers by the first entry of an index (messages_content, or
 * messages_content_in_flight for messages in flight). Asked as not exists, it was planned as a
 * sequential scan of messages when every message shares one content (the planner expects the first
 * row to match), a scan that starts over the rows retention deleted. The min() shape alone still
 * left a sequential scan (with a limit) of messages for "any message at all", so these statements
 * also run with enable_seqscan off (docs/benchmarks.md has both plans, on both engines).
 */
const unused = (also: ReturnType<typeof sql>) => sql`(select min(m.content_id) from messages m where m.content_id = c.id ${also}) is null`;

/** Takes the job's lease when it is free (expired); true when this holder has it now. */
export async function claimLease(db: Kysely<DB>, name: string, holder: string, now: Date, until: Date): Promise<boolean> {
  const { rows } = await sql`
    insert into job_leases (name, holder, lease_until) values (${name}, ${holder}, ${until})
    on conflict (name) do update set holder = excluded.holder, lease_until = excluded.lease_until
    where job_leases.lease_until <= ${now} or job_leases.holder = ${holder}
    returning name`.execute(db);
  return rows.length > 0;
}

/** Keeps the lease (only while held) until `until`: the next run. */
export async function setLease(db: Kysely<DB>, name: string, holder: string, until: Date): Promise<void> {
  await sql`update job_leases set lease_until = ${until} where name = ${name} and holder = ${holder}`.execute(db);
}

/** Every key with where its walk of old messages resumes (null: from its oldest). */
export async function keyCursors(db: Kysely<DB>): Promise<{ keyId: string; from: Date | null }[]> {
  const rows = await db
    .selectFrom('api_keys as k')
    .leftJoin('retention_cursors as c', 'c.key_id', 'k.id')
    .select(['k.id', 'c.messages_from'])
    .orderBy('k.id')
    .execute();
  return rows.map((r) => ({ keyId: r.id, from: r.messages_from ? new Date(r.messages_from) : null }));
}

/**
 * A key's oldest final messages created before `before` (and from `from`, the cursor), with their
 * timeline events and soft-bounce rows (tracking: opens, clicks, unsubscribes are timeline events).
 * Walks messages_key_created. The cursor moves, in the same transaction, to the newest removed
 * message's time while whole batches go; a short batch means the walk reached `before`, and the
 * cursor is dropped so the next pass starts from the oldest again and takes the messages that were
 * in flight (or locked) when it went past them.
 */
export async function removeMessages(db: Kysely<DB>, keyId: string, before: Date, limit: number, from: Date | null = null): Promise<number> {
  return withoutJit(db, async (trx) => {
    const { rows } = await sql<{ n: number; last: Date | null }>`
      with victims as (
        select id, created_at from messages
        where key_id = ${keyId} and created_at < ${before} and status in ${FINAL}
          and created_at >= ${from ?? new Date(0)}
        order by created_at
        limit ${limit}
        for update skip locked
      ), timeline as (
        delete from message_events where message_id = any (array(select id from victims))
      ), soft as (
        delete from soft_bounces where message_id = any (array(select id from victims))
      ), gone as (
        delete from messages where id = any (array(select id from victims)) returning id
      )
      select (select count(*) from gone)::int as n, (select max(created_at) from victims) as last`.execute(trx);
    const n = Number(rows[0]?.n ?? 0);
    const last = rows[0]?.last;
    if (n >= limit && last) {
      await sql`
        insert into retention_cursors (key_id, messages_from) values (${keyId}, ${new Date(last)})
        on conflict (key_id) do update set messages_from = excluded.messages_from`.execute(trx);
    } else if (from) {
      await sql`delete from retention_cursors where key_id = ${keyId}`.execute(trx);
    }
    return n;
  });
}

/** Per-recipient idempotency keys of batches (batch_recipient_keys) recorded before `before`: past their window. */
export async function removeBatchRecipientKeys(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from batch_recipient_keys where (key_id, idempotency_key) in (
        select key_id, idempotency_key from batch_recipient_keys where created_at < ${before} order by created_at limit ${limit})`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}

/**
 * Whether the send path is busy: messages due and waiting for a sender, or being sent. Each branch
 * is a probe of a partial index (messages_due per lane, messages_lease) that stops at its first row.
 */
export async function sendPathBusy(db: Kysely<DB>, now: Date): Promise<boolean> {
  const { rows } = await sql<{ busy: boolean }>`
    select (exists (select 1 from messages where status in ('queued', 'deferred') and lane = 0 and due_at <= ${now})
         or exists (select 1 from messages where status in ('queued', 'deferred') and lane = 1 and due_at <= ${now})
         or exists (select 1 from messages where status = 'sending' and lane = 0)
         or exists (select 1 from messages where status = 'sending' and lane = 1)) as busy`.execute(db);
  return rows[0]?.busy === true;
}

/** Contents created before `before` that no message uses any more (their messages were removed). */
export async function removeUnusedContents(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from message_contents where id = any (array(
        select c.id from message_contents c
        where c.created_at < ${before} and ${unused(sql``)} and not ${OWNED(sql.ref('c.id'))}
        order by c.created_at
        limit ${limit}
        for update skip locked))`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  }, true);
}

/**
 * Content retention: the bodies (text, HTML, attachments, raw MIME, headers) of contents created
 * before `before` that no message in flight uses. The row stays (sender, subject) for the message
 * log until its messages are removed.
 */
export async function stripContents(db: Kysely<DB>, before: Date, limit: number, now: Date): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql<{ id: string }>`
      update message_contents set html = null, text = null, raw_mime = null, attachments = '[]', headers = '{}', body_removed_at = ${now}
      where id = any (array(
        select c.id from message_contents c
        where c.body_removed_at is null and c.created_at < ${before}
          and ${unused(sql`and m.status in ('queued', 'sending', 'deferred')`)}
          and not ${OWNED(sql.ref('c.id'))}
        order by c.created_at
        limit ${limit}
        for update skip locked))
      returning id`.execute(trx);
    const ids = result.rows.map((r) => r.id);
    if (ids.length) await sql`delete from message_attachments where content_id = any(${ids}::text[])`.execute(trx);
    return ids.length;
  }, true);
}

/** Webhook events (the outbox) at before `before` with no delivery still pending (deliveries are made with their event). */
export async function removeEvents(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from events where seq = any (array(
        select e.seq from events e
        where e.at < ${before}
          and not exists (select 1 from webhook_deliveries d where d.event_seq = e.seq and d.status = 'pending')
        order by e.seq
        limit ${limit}))`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}

/** Finished webhook deliveries (delivered or failed) created before `before`. */
export async function removeWebhookDeliveries(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from webhook_deliveries where id = any (array(
        select id from webhook_deliveries where created_at < ${before} and status <> 'pending' order by id limit ${limit}))`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}

/** Inbound reports (DSNs, ARF, mailto unsubscribes) handled and received before `before`. */
export async function removeInboundReports(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from inbound_reports where id = any (array(
        select id from inbound_reports where status in ('processed', 'unmatched', 'failed') and received_at < ${before} limit ${limit}))`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}

/** Import jobs (and their body, by cascade) that ended before `before`; running or queued ones stay. */
export async function removeFinishedImports(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from contact_imports where id = any (array(
        select id from contact_imports where status in ('completed', 'failed') and finished_at < ${before} limit ${limit}))`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}

/** The recipient lists of batches finished (completed or cancelled) before `before`; the batch row and its counts stay. */
export async function removeBatchRecipients(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  return withoutJit(db, async (trx) => {
    const result = await sql`
      delete from batch_recipients r where (r.batch_id, r.seq) in (
        select x.batch_id, x.seq from batch_recipients x
        where x.batch_id = (
          select b.id from batches b
          where b.status in ('completed', 'cancelled') and coalesce(b.completed_at, b.created_at) < ${before}
            and exists (select 1 from batch_recipients y where y.batch_id = b.id)
          limit 1)
        order by x.seq
        limit ${limit})`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}
