import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { COUNTERS, type Counter } from './counting.ts';
import type { StatScope } from './tables.ts';

/** Reading the aggregates (stat_counts); never the message log. */

export type Counts = Record<Counter, number>;

const sums = sql.join(COUNTERS.map((c) => sql`coalesce(sum(${sql.ref(c)}), 0)::bigint as ${sql.ref(c)}`));

function toCounts(row: Record<string, unknown> | undefined): Counts {
  return Object.fromEntries(COUNTERS.map((c) => [c, Number(row?.[c] ?? 0)])) as Counts;
}

export function zeroCounts(): Counts {
  return toCounts(undefined);
}

/** Every hour of one campaign, batch or sequence, added up. */
export async function scopeTotals(db: Kysely<DB>, scope: Exclude<StatScope, 'key'>, keyId: string, scopeId: string): Promise<Counts> {
  const { rows } = await sql<Record<string, unknown>>`
    select ${sums} from stat_counts where scope = ${scope} and key_id = ${keyId} and scope_id = ${scopeId}`.execute(db);
  return toCounts(rows[0]);
}

/** A key's (or, keyId null, every key's) counts per hour in [from, to), for one channel or both. */
export async function keyHours(db: Kysely<DB>, keyId: string | null, from: Date, to: Date, channel: 'trans' | 'bulk' | null): Promise<Array<{ hour: Date; counts: Counts }>> {
  const { rows } = await sql<Record<string, unknown> & { hour: Date | string }>`
    select hour, ${sums} from stat_counts
    where scope = 'key' and hour >= ${from} and hour < ${to}
      ${keyId === null ? sql`` : sql`and key_id = ${keyId} and scope_id = ''`}
      ${channel === null ? sql`` : sql`and channel = ${channel}`}
    group by hour`.execute(db);
  return rows.map((r) => ({ hour: new Date(r.hour), counts: toCounts(r) }));
}

/** Whether the key owns the batch or sequence (another key's is a 404, as everywhere). */
export async function ownsScope(db: Kysely<DB>, scope: 'batch' | 'sequence', keyId: string | null, id: string): Promise<string | null> {
  const table = scope === 'batch' ? 'batches' : 'sequences';
  let query = db.selectFrom(table).select('key_id').where('id', '=', id);
  if (keyId !== null) query = query.where('key_id', '=', keyId);
  return (await query.executeTakeFirst())?.key_id ?? null;
}
