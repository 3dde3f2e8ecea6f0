import { sql, type RawBuilder } from 'kysely';

/**
 * Writing the aggregates (stat_counts). Each statement that changes messages adds its changes in
 * the same statement: its changed rows, grouped by key, channel and scope, become one upsert per
 * group. Many workers finishing one campaign then take its row once per statement (a few hundred
 * messages), not once per message, and always in the same order (key rows first).
 */

export const COUNTERS = ['sent', 'delivered', 'deferred', 'bounced', 'bounced_after_sent', 'complained', 'opened', 'clicked', 'unsubscribed', 'failed', 'dropped'] as const;
export type Counter = (typeof COUNTERS)[number];

const HOUR_MS = 3_600_000;

/** The hour (UTC) an event at `at` is counted in. */
export function hourOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/** The sequence of a message (SQL), looked up only for sequence messages. */
export function sequenceOf(subscriberId: RawBuilder<unknown>): RawBuilder<string | null> {
  return sql<string | null>`case when ${subscriberId} is not null then (select ss.sequence_id from sequence_subscribers ss where ss.id = ${subscriberId}) end`;
}

const counted = (counter: Counter) =>
  // A later bounce of a sent message is a bounce too; bounced_after_sent lets a campaign's figures
  // say how many are still sent.
  counter === 'bounced' ? sql`count(*) filter (where r.counter in ('bounced', 'bounced_after_sent'))` : sql`count(*) filter (where r.counter = ${counter})`;

/**
 * An INSERT … ON CONFLICT that adds `source`'s rows to the aggregates of the hour of `at`.
 * `source` is a query with the columns key_id, channel, campaign_id, batch_id, sequence_id and
 * counter (one of COUNTERS); use it as a data-modifying CTE of the changing statement.
 */
export function countInto(source: RawBuilder<unknown>, at: Date): RawBuilder<unknown> {
  return sql`
    insert into stat_counts as s (scope, key_id, scope_id, hour, channel, ${sql.join(COUNTERS.map((c) => sql.ref(c)))})
    select x.scope, r.key_id, x.scope_id, ${hourOf(at)}::timestamptz, r.channel, ${sql.join(COUNTERS.map(counted))}
    from (${source}) r
    cross join lateral (values ('key', ''), ('campaign', r.campaign_id), ('batch', r.batch_id), ('sequence', r.sequence_id)) as x(scope, scope_id)
    where x.scope_id is not null
    group by x.scope, r.key_id, x.scope_id, r.channel
    -- Key rows first, then the rest, in one order everywhere: a transaction that counts several
    -- changes (feedback reports) and an outcome statement meet first on the key's row, not crosswise.
    order by x.scope <> 'key', r.key_id, x.scope, x.scope_id, r.channel
    on conflict (scope, key_id, scope_id, hour, channel) do update set ${sql.join(COUNTERS.map((c) => sql`${sql.ref(c)} = s.${sql.ref(c)} + excluded.${sql.ref(c)}`))}`;
}
