import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { claimedFromJson, type ClaimedMessage } from '../../delivery/queue-repo.ts';
import { NEVER } from '../campaigns/repo.ts';
import type { Channel } from '../messages/tables.ts';

/**
 * The SQL of the batch slice dispatcher: accepted recipients made into messages a slice at a time,
 * in the transaction that advances the batch's release cursor (a crash rolls back both).
 */

export interface ReleasableBatch {
  id: string;
  key_id: string;
  content_id: string;
  channel: Channel;
  custom_args: Record<string, string> | null;
  release_after: number;
}

/**
 * One batch with recipients still to release and due to send, its release row locked (SKIP LOCKED:
 * workers share batches). Not the batch row: the batch monitor locks that for a moment every round,
 * and a slice skipped then left the sender without work for a whole poll. A canary batch releases its rest only once sending (the slice's own
 * messages were made at acceptance); any other from acceptance on, once its send_at has come.
 */
export async function claimReleasable(trx: Kysely<DB>, now: Date): Promise<ReleasableBatch | undefined> {
  const { rows } = await sql<ReleasableBatch>`
    select b.id, b.key_id, b.content_id, b.channel, b.custom_args, r.release_after
    from batch_releases r join batches b on b.id = r.batch_id
    where b.status = 'sending' or (b.status = 'accepted' and b.canary is null and (b.send_at is null or b.send_at <= ${now}))
    order by r.updated_at
    limit 1
    for update of r skip locked`.execute(trx);
  return rows[0] && releasable(rows[0]);
}

const releasable = (row: ReleasableBatch): ReleasableBatch => ({ ...row, custom_args: typeof row.custom_args === 'string' ? JSON.parse(row.custom_args) : row.custom_args });

/**
 * Makes the next `limit` (null: all) recipients after the cursor into messages, due now, or at
 * `dueAt`: created `sending` with a lease when `leaseUntil` is given (already claimed for this
 * process's sender, as campaign chunks are), else queued for any worker. Advances the cursor.
 * Message ids were given at staging, so a slice made twice makes nothing twice.
 */
export async function releaseSlice(
  trx: Kysely<DB>,
  batch: ReleasableBatch,
  o: { limit: number | null; now: Date; dueAt?: Date; leaseUntil: Date | null },
): Promise<{ released: number; claimed: ClaimedMessage[] }> {
  const leased = o.leaseUntil !== null;
  const lane = batch.channel === 'trans' ? 0 : 1;
  const { rows } = await sql<{ members: number; last_seq: number | null; claimed: unknown }>`
    with slice as (
      select r.seq, r.message_id, r.email, r.name, r.variables from batch_recipients r
      where r.batch_id = ${batch.id} and r.seq > ${batch.release_after} and r.message_id is not null and not r.canary
      order by r.seq
      limit ${o.limit ?? 2_147_483_647}
    ), inserted as (
      insert into messages (id, key_id, content_id, request_id, channel, lane, status, to_email, to_name, personalization, due_at, updated_at, batch_id,
                            lease_until, attempts, first_attempt_at)
      select s.message_id, ${batch.key_id}, ${batch.content_id}, ${batch.id}, ${batch.channel}, ${lane}, ${leased ? 'sending' : 'queued'}, s.email, s.name,
             jsonb_build_object('variables', coalesce(s.variables, '{}'::jsonb) || jsonb_build_object('name', coalesce(s.name, ''), 'email', s.email),
                                'custom_args', ${JSON.stringify(batch.custom_args ?? {})}::jsonb),
             ${o.dueAt ?? o.now}::timestamptz, ${o.now}, ${batch.id},
             ${o.leaseUntil}::timestamptz, ${leased ? 1 : 0}::int, ${leased ? o.now : null}::timestamptz
      from slice s
      order by s.seq
      on conflict (id) do nothing
      returning id, key_id, content_id, channel, lane, to_email, to_name, personalization, attempts, first_attempt_at, campaign_id, batch_id
    )
    select (select count(*) from slice)::int as members, (select max(seq) from slice) as last_seq,
           case when ${leased} then (select coalesce(json_agg(i), '[]'::json) from inserted i) else (select count(*) from inserted)::text::json end as claimed`.execute(trx);
  const r = rows[0]!;
  const members = Number(r.members);
  const done = o.limit === null || members < o.limit;
  if (done) await trx.deleteFrom('batch_releases').where('batch_id', '=', batch.id).execute();
  else await trx.updateTable('batch_releases').set({ release_after: r.last_seq ?? batch.release_after, updated_at: o.now }).where('batch_id', '=', batch.id).execute();
  return { released: members, claimed: leased ? claimedFromJson(r.claimed) : [] };
}

/** A cancelled batch's recipients not yet released: made queued and never due, for the cancel to drop with the rest. */
export async function releaseRest(trx: Kysely<DB>, batchId: string, now: Date): Promise<void> {
  const { rows } = await sql<ReleasableBatch>`
    select b.id, b.key_id, b.content_id, b.channel, b.custom_args, r.release_after
    from batch_releases r join batches b on b.id = r.batch_id
    where r.batch_id = ${batchId}
    -- Waits for a slice in flight, then reads the cursor it committed.
    for update of r`.execute(trx);
  if (rows[0]) await releaseSlice(trx, releasable(rows[0]), { limit: null, now, dueAt: NEVER, leaseUntil: null });
}
