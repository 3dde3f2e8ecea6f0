// The retention job's pacing and resume point over real rows, with injected clocks (wall and monotonic).
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import pino from 'pino';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { createRetentionJob } from '../../workers/retention.ts';

const DAY = 86_400_000;
const NOW = new Date('2027-03-01T12:00:00Z');

describeEachEngine('retention pacing, resume point and idempotency-key pruning', (engine) => {
  let h: Harness;
  let keyId = '';
  const db = () => h.database.db;
  const job = (monotonic: () => number, maxYieldMs = 60_000) =>
    createRetentionJob({ db: db(), logger: pino({ level: 'silent' }), retentionDays: 30, contentRetentionDays: 30, batchSize: 3, pauseFactor: 0, maxYieldMs, now: () => NOW, monotonic });
  const ids = async () => (await db().selectFrom('messages').select('id').orderBy('id').execute()).map((m) => m.id);
  const cursor = async () => (await db().selectFrom('retention_cursors').select('messages_from').where('key_id', '=', keyId).executeTakeFirst())?.messages_from;
  /** Messages m00..m(n-1), one day apart from 40 days back; `status` overrides by index. */
  const seed = async (n: number, status: Record<number, 'queued' | 'deferred' | 'sending'> = {}) => {
    await db().insertInto('message_contents').values({ id: 'ct-pacing', key_id: keyId, from_email: 'a@x.test', reply_to: 'null', subject: 'S', created_at: new Date(NOW.getTime() - 50 * DAY) }).execute();
    await db()
      .insertInto('messages')
      .values(
        Array.from({ length: n }, (_, i) => ({
          id: `m${String(i).padStart(2, '0')}`,
          key_id: keyId,
          content_id: 'ct-pacing',
          channel: 'trans' as const,
          lane: 0,
          status: status[i] ?? ('sent' as const),
          lease_until: status[i] === 'sending' ? new Date(NOW.getTime() + DAY) : null,
          to_email: `r${i}@x.test`,
          created_at: new Date(NOW.getTime() - (40 - i) * DAY),
          due_at: status[i] === 'deferred' ? new Date(NOW.getTime() + DAY) : NOW,
        })),
      )
      .execute();
  };

  before(async () => {
    h = await startHarness(engine);
    keyId = (await h.newKey('pacing')).id;
  });
  beforeEach(async () => {
    await db().deleteFrom('retention_cursors').execute();
    await db().deleteFrom('job_leases').execute();
    await db().deleteFrom('messages').execute();
    await db().deleteFrom('message_contents').execute();
  });
  after(() => h.close());

  it('yields while a message is due, then runs one round once it has yielded for maxYieldMs', async () => {
    await seed(4, { 3: 'queued' });
    let ms = 0;
    const retention = job(() => ms, 1000);
    assert.equal(await retention.runOnce(), 0);
    ms = 999;
    assert.equal(await retention.runOnce(), 0);
    assert.equal((await ids()).length, 4);
    ms = 1000;
    assert.equal(await retention.runOnce(), 3);
    assert.deepEqual(await ids(), ['m03']);
  });

  it('runs at once while nothing is due or being sent', async () => {
    await seed(2, { 1: 'deferred' });
    assert.equal(await job(() => 0).runOnce(), 1);
    assert.deepEqual(await ids(), ['m01']);
  });

  it('resumes where the last full round ended, and starts over after a short one', async () => {
    // m01 is being sent: the walk goes past it; later passes take it once it is final.
    await seed(8, { 1: 'sending' });
    let ms = 0;
    const retention = job(() => ms++, 0);
    assert.equal(await retention.runOnce(), 3);
    assert.deepEqual(await ids(), ['m01', 'm04', 'm05', 'm06', 'm07']);
    assert.deepEqual(await cursor(), new Date(NOW.getTime() - 37 * DAY));
    // The stored cursor is what the next round reads: a message put back behind it is not walked.
    await db().updateTable('messages').set({ status: 'sent', lease_until: null }).where('id', '=', 'm01').execute();
    // Three messages, and the content's bodies (no message in flight uses it any more).
    assert.equal(await retention.runOnce(), 4);
    assert.deepEqual(await ids(), ['m01', 'm07']);
    // A second worker resumes from the database, not from the first one's memory (the first one's lease lapsed).
    await db().deleteFrom('job_leases').execute();
    assert.equal(await job(() => 0, 0).runOnce(), 1);
    assert.deepEqual(await ids(), ['m01']);
    assert.equal(await cursor(), undefined);
    await db().deleteFrom('job_leases').execute();
    // From the oldest again: m01, and then its content, which nothing uses now.
    assert.equal(await retention.runOnce(), 2);
    assert.deepEqual(await ids(), []);
  });

  it('prunes per-recipient idempotency keys past their 24 h window only', async () => {
    await db().deleteFrom('batch_recipient_keys').execute();
    await db()
      .insertInto('batch_recipient_keys')
      .values([
        { key_id: keyId, idempotency_key: 'old', batch_id: 'b1', created_at: new Date(NOW.getTime() - DAY - 1) },
        { key_id: keyId, idempotency_key: 'fresh', batch_id: 'b1', created_at: new Date(NOW.getTime() - DAY + 1000) },
      ])
      .execute();
    assert.equal(await job(() => 0).runOnce(), 1);
    assert.deepEqual((await db().selectFrom('batch_recipient_keys').select('idempotency_key').execute()).map((r) => r.idempotency_key), ['fresh']);
  });
});
