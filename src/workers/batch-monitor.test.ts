// The batch monitor between progress rows: it reads the batch's counts from its aggregates (never its
// messages), and completes the batch once none is open, without waiting for the next progress row.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { countInto } from '../modules/stats/counting.ts';
import { describeEachEngine } from '../../test/support/engines.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { createBatchMonitor } from './batch-monitor.ts';

describeEachEngine('batch monitor', (engine) => {
  let h: Harness;
  let key: { id: string; secret: string };

  before(async () => {
    h = await startHarness(engine);
    key = await h.newKey('batches', ['news.test']);
  });
  after(async () => {
    await h.close();
  });

  it('completes a sending batch once no message is open, between progress rows; counts move no progress row before a second', async () => {
    const db = h.database.db;
    let now = new Date('2031-02-01T10:00:00.000Z');
    const monitor = createBatchMonitor({ db, logger: pino({ level: 'silent' }), now: () => now });
    await db
      .insertInto('batches')
      .values({ id: 'batch_monitor_test', key_id: key.id, status: 'sending', channel: 'bulk', submitted: 3, accepted: 3, progress_seq: 1, progress_at: now, progress_counts: JSON.stringify({ queued: 3 }), created_at: now, updated_at: now })
      .execute();
    const message = (id: string, status: 'queued' | 'sending' | 'deferred' | 'sent') => ({
      id,
      key_id: key.id,
      content_id: 'mc_monitor',
      channel: 'bulk' as const,
      lane: 1,
      status,
      to_email: `${id}@rcpt.test`,
      batch_id: 'batch_monitor_test',
      ...(status === 'sending' ? { lease_until: now } : {}),
    });
    await db.insertInto('messages').values([message('msg_mon_1', 'sending'), message('msg_mon_2', 'deferred'), message('msg_mon_3', 'sending')]).execute();
    // Sent as the sender records it: the message and its aggregates in one statement.
    const markSent = (id: string) =>
      sql`
        with changed as (update messages set status = 'sent', lease_until = null where id = ${id} returning key_id, channel, campaign_id, batch_id),
        counted as (${countInto(sql`select key_id, channel, campaign_id, batch_id, null::text as sequence_id, 'sent' as counter from changed`, now)})
        select 1`.execute(db);
    await markSent('msg_mon_1');
    const batch = () => db.selectFrom('batches').select(['status', 'outcome', 'progress_seq']).where('id', '=', 'batch_monitor_test').executeTakeFirstOrThrow();

    now = new Date(now.getTime() + 200);
    assert.equal(await monitor.runOnce(), 0);
    assert.deepEqual(await batch(), { status: 'sending', outcome: null, progress_seq: 1 });

    await markSent('msg_mon_3');
    now = new Date(now.getTime() + 200);
    assert.equal(await monitor.runOnce(), 0, 'a deferred message is still open');

    await markSent('msg_mon_2');
    now = new Date(now.getTime() + 200);
    assert.equal(await monitor.runOnce(), 1);
    assert.deepEqual(await batch(), { status: 'completed', outcome: 'success', progress_seq: 2 });
  });
});
