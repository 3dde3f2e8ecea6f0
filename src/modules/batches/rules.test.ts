import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvCell } from './export.ts';
import { aggregateCounts, canaryVerdict, completionOutcome, isOpen, nextHour, providerOrder, storedCounts } from './rules.ts';

const at = new Date('2026-03-02T10:15:00Z');
const plan = { percent: 5, hold: false, seed: 'ab', size: 10 };

describe('batch rules', () => {
  it('a canary waits until its slice is final, then holds when asked or over a threshold', () => {
    assert.deepEqual(canaryVerdict(plan, { open: 1, size: 10, bounced: 9, complained: 0 }, at), { next: 'wait' });
    assert.deepEqual(canaryVerdict(plan, { open: 0, size: 10, bounced: 9, complained: 0 }, at), { next: 'sending' });
    const spike = canaryVerdict({ ...plan, max_bounce_rate: 0.2 }, { open: 0, size: 10, bounced: 3, complained: 0 }, at);
    assert.equal(spike.next === 'awaiting_approval' && spike.hold.reason, 'bounce_rate');
    assert.equal(canaryVerdict({ ...plan, max_bounce_rate: 0.3 }, { open: 0, size: 10, bounced: 3, complained: 0 }, at).next, 'sending');
    const complaints = canaryVerdict({ ...plan, max_complaint_rate: 0 }, { open: 0, size: 10, bounced: 0, complained: 1 }, at);
    assert.equal(complaints.next === 'awaiting_approval' && complaints.hold.complaint_rate, 0.1);
    const held = canaryVerdict({ ...plan, hold: true }, { open: 0, size: 10, bounced: 0, complained: 0 }, at);
    assert.equal(held.next === 'awaiting_approval' && held.hold.reason, 'canary_hold');
  });

  it('never reports plain success over failures', () => {
    assert.equal(completionOutcome({ sent: 10, failed: 0, bounced: 2 }), 'success');
    assert.equal(completionOutcome({ sent: 10, failed: 1 }), 'partial');
    assert.equal(completionOutcome({ sent: 0, failed: 3 }), 'failed');
  });

  it('orders providers by policy: failover as listed, weighted by draw, those down last', () => {
    const failover = { providers: ['a', 'b', 'c'], strategy: 'failover' as const };
    assert.deepEqual(providerOrder(failover, 0.9, new Set()), { order: ['a', 'b', 'c'], reason: 'primary' });
    assert.deepEqual(providerOrder(failover, 0.9, new Set(['a'])).order, ['b', 'c', 'a']);
    const weighted = { providers: ['a', 'b'], strategy: 'weighted' as const, weights: [3, 1] };
    assert.deepEqual(providerOrder(weighted, 0.74, new Set()), { order: ['a', 'b'], reason: 'weight' });
    assert.deepEqual(providerOrder(weighted, 0.76, new Set()).order, ['b', 'a']);
    assert.equal(nextHour(at).toISOString(), '2026-03-02T11:00:00.000Z');
  });

  it('escapes CSV cells, formulas included', () => {
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell('+1'), "'+1");
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(-3), '-3');
  });
  it("a batch's counts are its last progress row's, or all accepted queued before the first", () => {
    assert.deepEqual(storedCounts(null, 3), { queued: 3, sending: 0, deferred: 0, sent: 0, bounced: 0, failed: 0, dropped: 0 });
    assert.deepEqual(storedCounts({ queued: 0, sent: 2, failed: 1 }, 3), { queued: 0, sending: 0, deferred: 0, sent: 2, bounced: 0, failed: 1, dropped: 0 });
  });
  it("a batch's counts from its aggregates: a later bounce is no longer sent, retried failures are no longer failed, the rest is open", () => {
    const totals = { sent: 6, bounced: 2, bounced_after_sent: 1, failed: 3, dropped: 1 };
    const counts = aggregateCounts(totals, 11, 0);
    assert.deepEqual(counts, { queued: 0, sending: 0, deferred: 0, sent: 5, bounced: 2, failed: 3, dropped: 1 });
    assert.equal(isOpen(counts), false);
    // Retry-failed took two failures back: those two are open again until their new outcome is counted.
    const retried = aggregateCounts(totals, 11, 2);
    assert.deepEqual([retried.failed, retried.queued, isOpen(retried)], [1, 2, true]);
    assert.deepEqual(aggregateCounts({ ...totals, sent: 8 }, 11, 2), { queued: 0, sending: 0, deferred: 0, sent: 7, bounced: 2, failed: 1, dropped: 1 });
  });
});
