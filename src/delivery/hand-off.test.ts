import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHandOff, handOffCapacity } from './hand-off.ts';
import type { ClaimedMessage } from './queue-repo.ts';

const message = (n: number): ClaimedMessage => ({
  id: `msg_${n}`,
  key_id: 'key_1',
  content_id: 'mc_1',
  channel: 'bulk',
  lane: 1,
  to_email: `r${n}@example.test`,
  to_name: null,
  personalization: {},
  attempts: 1,
  first_attempt_at: new Date(0),
  campaign_id: 'camp_1',
});

describe('hand-off capacity', () => {
  it('unlimited rate: the default; a rate: a quarter of the lease at that rate, at least one', () => {
    assert.equal(handOffCapacity(0, 120_000), 2000);
    assert.equal(handOffCapacity(10, 120_000), 300);
    assert.equal(handOffCapacity(1000, 120_000), 2000);
    assert.equal(handOffCapacity(0.01, 120_000), 1);
  });
});

describe('hand-off', () => {
  it('hands messages over oldest first, within its capacity', () => {
    const handOff = createHandOff({ capacity: 5, leaseMs: 1000 });
    assert.equal(handOff.room(), 5);
    handOff.put([1, 2, 3].map(message));
    assert.equal(handOff.room(), 2);
    assert.deepEqual(handOff.take(2).map((m) => m.id), ['msg_1', 'msg_2']);
    assert.deepEqual(handOff.takeAll().map((m) => m.id), ['msg_3']);
    assert.deepEqual(handOff.take(10), []);
    assert.equal(handOff.room(), 5);
  });

  it('a wait for room ends once the sender took enough, and reports false when not enough came', async () => {
    const handOff = createHandOff({ capacity: 4, leaseMs: 1000 });
    handOff.put([1, 2, 3, 4].map(message));
    assert.equal(await handOff.waitForRoom(1, 1), false);
    let settled = false;
    const waiting = handOff.waitForRoom(2, 60_000).then((ok) => ((settled = true), ok));
    handOff.take(1);
    await Promise.resolve();
    assert.equal(settled, false, 'room for one is not room for two');
    handOff.take(1);
    assert.equal(await waiting, true);
    // More than the capacity is never wanted: a full chunk larger than the hand-off waits for an empty one.
    handOff.takeAll();
    assert.equal(await handOff.waitForRoom(1000, 1), true);
  });
});
