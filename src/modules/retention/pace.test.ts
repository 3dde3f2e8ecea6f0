import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, type PaceState } from './pace.ts';

const rule = { pauseFactor: 4, maxYieldMs: 60_000, recheckMs: 1000 };
const fresh: PaceState = { lastRoundEndedAt: null, lastRoundMs: 0, lastRoundRemoved: false, yieldingSince: null };

describe('retention pace', () => {
  it('runs the first round at once while sending is idle', () => {
    assert.deepEqual(decide(fresh, 0, false, rule), { action: 'run' });
  });

  it('waits four times a removing round before the next, busy or not', () => {
    const state = { ...fresh, lastRoundEndedAt: 1000, lastRoundMs: 200, lastRoundRemoved: true };
    assert.deepEqual(decide(state, 1500, false, rule), { action: 'wait', untilMs: 1800 });
    assert.deepEqual(decide(state, 1800, false, rule), { action: 'run' });
  });

  it('yields while messages are due, from the moment it first had to', () => {
    assert.deepEqual(decide(fresh, 5000, true, rule), { action: 'yield', since: 5000, untilMs: 6000 });
    // It asks again a second later, but never past the minimum-progress deadline.
    assert.deepEqual(decide({ ...fresh, yieldingSince: 5000 }, 64_500, true, rule), { action: 'yield', since: 5000, untilMs: 65_000 });
  });

  it('runs one round after yielding for maxYieldMs, so a never-empty queue cannot starve it', () => {
    assert.deepEqual(decide({ ...fresh, yieldingSince: 5000 }, 65_000, true, rule), { action: 'run' });
  });

  it('a round that removed nothing imposes no pause (the caller waits its interval)', () => {
    const state = { ...fresh, lastRoundEndedAt: 1000, lastRoundMs: 500, lastRoundRemoved: false };
    assert.deepEqual(decide(state, 1001, false, rule), { action: 'run' });
  });
});
