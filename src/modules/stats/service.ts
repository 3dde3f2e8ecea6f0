import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import type { Principal } from '../keys/service.ts';
import { keyHours, ownsScope, scopeTotals, zeroCounts, type Counts } from './repo.ts';
import { bucketsOf, type Interval, type StatsRange } from './series.ts';

/** The statistics API: every figure from the aggregates, so it answers the same after retention. */

export const REPORTED = ['sent', 'delivered', 'bounced', 'complained', 'opened', 'clicked', 'unsubscribed', 'failed'] as const;
export type Reported = Record<(typeof REPORTED)[number], number>;

const reported = (c: Counts): Reported => Object.fromEntries(REPORTED.map((k) => [k, c[k]])) as Reported;

export type ApiChannel = 'transactional' | 'bulk';

export interface StatsQuery {
  from?: string;
  to?: string;
  interval?: Interval;
  channel?: ApiChannel;
}

export function createStatsService(deps: { db: Kysely<DB>; now?: () => Date }) {
  const { db } = deps;
  const clock = deps.now ?? (() => new Date());

  return {
    /** Totals and a zero-filled series over [from, to) for a key (keyId null: every key, an admin). */
    async series(keyId: string | null, query: StatsQuery) {
      const range: StatsRange = bucketsOf(query, clock());
      const channel = query.channel === undefined ? null : query.channel === 'transactional' ? 'trans' : 'bulk';
      const hours = await keyHours(db, keyId, range.from, range.to, channel);
      const points = range.starts.map(() => zeroCounts());
      const totals = zeroCounts();
      for (const { hour, counts } of hours) {
        const index = Math.floor((hour.getTime() - range.from.getTime()) / range.stepMs);
        const point = points[index];
        if (!point) continue;
        for (const k of Object.keys(counts) as Array<keyof Counts>) {
          point[k] += counts[k];
          totals[k] += counts[k];
        }
      }
      return {
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        interval: range.interval,
        channel: query.channel ?? null,
        totals: reported(totals),
        series: range.starts.map((start, i) => ({ start: start.toISOString(), ...reported(points[i]!) })),
      };
    },

    /** A batch's or sequence's counts over its whole life. */
    async ofScope(principal: Principal, scope: 'batch' | 'sequence', id: string) {
      const keyId = await ownsScope(db, scope, principal.admin ? null : principal.keyId, id);
      if (keyId === null) throw notFound(scope === 'batch' ? 'batch' : 'sequence');
      const counts = await scopeTotals(db, scope, keyId, id);
      return { [`${scope}_id`]: id, ...reported(counts), deferred: counts.deferred, dropped: counts.dropped } as { batch_id?: string; sequence_id?: string } & Reported & { deferred: number; dropped: number };
    },
  };
}

export type StatsService = ReturnType<typeof createStatsService>;
