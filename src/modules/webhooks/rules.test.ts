import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAILING_DISABLE_MS, healthAfter } from './endpoint-health.ts';
import { JITTER, MAX_ATTEMPTS, RETRY_DELAYS_MS, nextAttemptAt } from './retry-schedule.ts';

const t0 = new Date('2026-12-01T00:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

describe('webhook retry schedule', () => {
  it('waits 5 s after the first failure, 5 min after the second, and so on', () => {
    assert.deepEqual(nextAttemptAt(1, t0, 0.5), at(5_000));
    assert.deepEqual(nextAttemptAt(2, t0, 0.5), at(300_000));
    assert.deepEqual(nextAttemptAt(7, t0, 0.5), at(14 * 3_600_000));
  });

  it('jitters each delay by at most 10 %', () => {
    assert.deepEqual(nextAttemptAt(2, t0, 0), at(270_000));
    assert.deepEqual(nextAttemptAt(2, t0, 0.999999), at(Math.round(300_000 * (1 + JITTER * 0.999998))));
  });

  it('gives up after the last attempt', () => {
    assert.equal(MAX_ATTEMPTS, 8);
    assert.equal(nextAttemptAt(MAX_ATTEMPTS, t0, 0.5), null);
  });

  it('spans more than 24 hours even with the shortest jitter', () => {
    let last = t0;
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) last = nextAttemptAt(attempt, last, 0)!;
    assert.ok(last.getTime() - t0.getTime() > 24 * 3_600_000, `${(last.getTime() - t0.getTime()) / 3_600_000} h`);
    assert.equal(RETRY_DELAYS_MS.length, MAX_ATTEMPTS - 1);
  });
});

describe('webhook endpoint health', () => {
  it('a success ends a run of failures', () => {
    assert.deepEqual(healthAfter(at(-1000), 200, true, t0), { failingSince: null, disable: null });
  });

  it('a first failure starts the run; a later one keeps its start', () => {
    assert.deepEqual(healthAfter(null, 500, false, t0), { failingSince: t0, disable: null });
    assert.deepEqual(healthAfter(t0, null, false, at(3_600_000)), { failingSince: t0, disable: null });
  });

  it('410 Gone disables at once', () => {
    assert.equal(healthAfter(null, 410, false, t0).disable, 'the endpoint answered 410 Gone');
  });

  it('5 days of nothing but failures disables', () => {
    assert.equal(healthAfter(t0, 503, false, at(FAILING_DISABLE_MS - 1)).disable, null);
    assert.equal(healthAfter(t0, 503, false, at(FAILING_DISABLE_MS)).disable, 'every attempt failed for 5 days');
  });
});
