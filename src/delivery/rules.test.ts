import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GIVE_UP_AFTER_MS, nextRetry } from './retry-schedule.ts';
import { isRecipientBounce, outcomeOfCode } from './smtp-outcome.ts';
import { suppressionBlocks } from './suppression-rule.ts';
import { available, fullBucket, take } from './token-bucket.ts';

describe('retry schedule', () => {
  const first = new Date('2026-01-01T00:00:00Z');
  it('backs off exponentially from one minute, with jitter of at most 20%', () => {
    const mid = (attempts: number) => (nextRetry(attempts, first, first, 0.5) as { at: Date }).at.getTime() - first.getTime();
    assert.equal(mid(1), 60_000);
    assert.equal(mid(2), 120_000);
    assert.equal(mid(3), 240_000);
    const low = nextRetry(1, first, first, 0) as { at: Date };
    const high = nextRetry(1, first, first, 0.999999) as { at: Date };
    assert.equal(low.at.getTime() - first.getTime(), 48_000);
    assert.ok(high.at.getTime() - first.getTime() <= 72_000 && high.at.getTime() - first.getTime() > 71_000);
  });
  it('caps the delay at one hour', () => {
    const d = nextRetry(20, first, first, 0.5) as { at: Date };
    assert.equal(d.at.getTime() - first.getTime(), 3_600_000);
  });
  it('keeps retrying until 24 hours after the first attempt, then gives up', () => {
    assert.equal(nextRetry(30, first, new Date(first.getTime() + GIVE_UP_AFTER_MS - 1), 0.5).retry, true);
    assert.equal(nextRetry(30, first, new Date(first.getTime() + GIVE_UP_AFTER_MS), 0.5).retry, false);
  });
  it('a message deferred on every attempt is retried over at least 24 hours', () => {
    let now = first;
    let attempts = 1;
    for (;;) {
      const d = nextRetry(attempts, first, now, 0);
      if (!d.retry) break;
      now = d.at;
      attempts++;
    }
    assert.ok(now.getTime() - first.getTime() >= GIVE_UP_AFTER_MS);
    assert.ok(attempts > 20 && attempts < 40, `attempts ${attempts}`);
  });
});

describe('SMTP outcomes', () => {
  it('maps reply classes', () => {
    assert.equal(outcomeOfCode(250), 'accepted');
    assert.equal(outcomeOfCode(451), 'temporary');
    assert.equal(outcomeOfCode(550), 'permanent');
    assert.equal(outcomeOfCode(0), 'temporary');
  });
  it('only a refused recipient or data is a bounce', () => {
    assert.equal(isRecipientBounce({ outcome: 'permanent', reply: '550 no such user', stage: 'rcpt' }), true);
    assert.equal(isRecipientBounce({ outcome: 'permanent', reply: '554 spam', stage: 'data' }), true);
    assert.equal(isRecipientBounce({ outcome: 'permanent', reply: '553 sender refused', stage: 'mail' }), false);
    assert.equal(isRecipientBounce({ outcome: 'temporary', reply: '450 later', stage: 'rcpt' }), false);
  });
});

describe('suppression rule', () => {
  it('bulk mail honours every reason, transactional only bounce and complaint', () => {
    for (const reason of ['bounce', 'complaint', 'unsubscribe', 'manual']) assert.equal(suppressionBlocks('bulk', reason), true);
    assert.equal(suppressionBlocks('trans', 'bounce'), true);
    assert.equal(suppressionBlocks('trans', 'complaint'), true);
    assert.equal(suppressionBlocks('trans', 'unsubscribe'), false);
    assert.equal(suppressionBlocks('trans', 'manual'), false);
  });
});

describe('token bucket', () => {
  const limits = { rate: 10, capacity: 10 };
  it('grants a burst up to capacity, then refills at the rate', () => {
    let bucket = fullBucket(limits, 0);
    const first = take(bucket, limits, 0, 25);
    assert.equal(first.granted, 10);
    bucket = first.bucket;
    const empty = take(bucket, limits, 0, 1);
    assert.equal(empty.granted, 0);
    assert.equal(empty.waitMs, 100);
    assert.equal(available(bucket, limits, 500), 5);
    assert.equal(take(bucket, limits, 500, 3).granted, 3);
    assert.equal(available(bucket, limits, 10_000), 10);
  });
  it('rate 0 is unlimited', () => {
    const none = { rate: 0, capacity: 1 };
    assert.equal(take(fullBucket(none, 0), none, 0, 1_000_000).granted, 1_000_000);
  });
});
