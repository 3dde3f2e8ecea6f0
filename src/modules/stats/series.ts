import { invalid } from '../../errors.ts';

/** The pure rule of a statistics range: its interval boundaries (UTC), its defaults and its bounds. */

export type Interval = 'hour' | 'day';

export const STEP_MS: Record<Interval, number> = { hour: 3_600_000, day: 86_400_000 };
/** Most points one request may ask for (about 41 days by hour, 2 years and more by day). */
export const MAX_POINTS = 1000;
/** Without from: the last 24 hours by hour, the last 30 days by day. */
const DEFAULT_POINTS: Record<Interval, number> = { hour: 24, day: 30 };

export interface StatsRange {
  from: Date;
  to: Date;
  interval: Interval;
  stepMs: number;
  starts: Date[];
}

function instant(value: string | undefined, field: string): Date | null {
  if (value === undefined) return null;
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw invalid('invalid_date', `${field} must be an ISO 8601 date-time`, field);
  return at;
}

/**
 * [from, to) widened to whole intervals (from down, to up, in UTC), one point per interval.
 * to defaults to now, from to a day (hourly) or 30 days (daily) before to.
 */
export function bucketsOf(query: { from?: string; to?: string; interval?: Interval }, now: Date): StatsRange {
  const interval = query.interval ?? 'day';
  const stepMs = STEP_MS[interval];
  const givenTo = instant(query.to, 'to');
  const givenFrom = instant(query.from, 'from');
  if (givenFrom && givenTo && givenFrom.getTime() >= givenTo.getTime()) throw invalid('invalid_range', 'from must be before to', 'from');
  const to = Math.ceil((givenTo ?? now).getTime() / stepMs) * stepMs;
  const from = givenFrom ? Math.floor(givenFrom.getTime() / stepMs) * stepMs : to - DEFAULT_POINTS[interval] * stepMs;
  if (from >= to) throw invalid('invalid_range', 'from must be before to', 'from');
  const points = (to - from) / stepMs;
  if (points > MAX_POINTS) throw invalid('range_too_large', `at most ${MAX_POINTS} points per request (asked ${points}); narrow the range or use interval=day`, 'from');
  return { from: new Date(from), to: new Date(to), interval, stepMs, starts: Array.from({ length: points }, (_, i) => new Date(from + i * stepMs)) };
}
