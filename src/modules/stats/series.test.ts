import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DomainError } from '../../errors.ts';
import { bucketsOf, MAX_POINTS } from './series.ts';

const now = new Date('2026-03-10T15:42:00Z');
const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error instanceof DomainError ? error.code : String(error);
  }
  return null;
};

it('widens [from, to) to whole UTC intervals, one start per interval', () => {
  const r = bucketsOf({ from: '2026-03-01T10:30:00Z', to: '2026-03-01T13:10:00Z', interval: 'hour' }, now);
  assert.deepEqual([r.from.toISOString(), r.to.toISOString()], ['2026-03-01T10:00:00.000Z', '2026-03-01T14:00:00.000Z']);
  assert.deepEqual(r.starts.map((s) => s.toISOString().slice(11, 16)), ['10:00', '11:00', '12:00', '13:00']);
  const days = bucketsOf({ from: '2026-03-01T00:00:00Z', to: '2026-03-03T00:00:00Z', interval: 'day' }, now);
  assert.equal(days.starts.length, 2);
});

it('defaults: up to now, the last 24 hours by hour or 30 days by day (day when no interval is given)', () => {
  const hours = bucketsOf({ interval: 'hour' }, now);
  assert.deepEqual([hours.starts.length, hours.to.toISOString()], [24, '2026-03-10T16:00:00.000Z']);
  const days = bucketsOf({}, now);
  assert.deepEqual([days.interval, days.starts.length, days.to.toISOString()], ['day', 30, '2026-03-11T00:00:00.000Z']);
});

it('refuses from at or after to, a bad date, and more points than the bound', () => {
  assert.equal(codeOf(() => bucketsOf({ from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }, now)), 'invalid_range');
  assert.equal(codeOf(() => bucketsOf({ from: '2026-03-01T00:00:00Z', to: '2026-03-01T00:00:00Z', interval: 'hour' }, now)), 'invalid_range');
  assert.equal(codeOf(() => bucketsOf({ from: 'yesterday' }, now)), 'invalid_date');
  const edge = new Date(Date.parse('2026-01-01T00:00:00Z') + MAX_POINTS * 3_600_000).toISOString();
  assert.equal(bucketsOf({ from: '2026-01-01T00:00:00Z', to: edge, interval: 'hour' }, now).starts.length, MAX_POINTS);
  const over = new Date(Date.parse(edge) + 1).toISOString();
  assert.equal(codeOf(() => bucketsOf({ from: '2026-01-01T00:00:00Z', to: over, interval: 'hour' }, now)), 'range_too_large');
});
