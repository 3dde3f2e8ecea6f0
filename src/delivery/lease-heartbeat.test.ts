import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describe } from 'node:test';
import { describeEachEngine } from '../../test/support/engines.ts';
import { queueTestMessages } from '../../test/support/outgoing.ts';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp-sink.ts';
import { createContext, createLogger } from '../composition.ts';
import { loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { createSendJob } from '../workers/send-job.ts';
import { dueForRenewal } from './lease-heartbeat.ts';
import { createSmtpTransport } from './smtp/transport.ts';

describe('dueForRenewal', () => {
  const lease = 30_000;
  it('renews a lease once half of it or less is left, and not before', () => {
    const held = [
      { id: 'fresh', attempts: 1, until: 100_000 + lease },
      { id: 'half', attempts: 1, until: 100_000 + lease / 2 },
      { id: 'lapsing', attempts: 2, until: 100_001 },
      { id: 'lapsed', attempts: 1, until: 90_000 },
    ];
    assert.deepEqual(dueForRenewal(held, 100_000, lease).map((m) => m.id), ['half', 'lapsing', 'lapsed']);
    assert.deepEqual(dueForRenewal(held, 100_000 - lease, lease), [], 'long before, nothing is due');
  });
});

describeEachEngine('send lease heartbeat', (engine) => {
  // Long enough that the heartbeat's own timer (every quarter lease, real time) never fires during the test.
  const LEASE = 60_000;
  let database: Database;
  let sink: SmtpSink;
  let letGo: () => void = () => {};
  let held = 0;
  let gate = new Promise<void>((resolve) => (letGo = resolve));
  /** The senders' clock: moved by the test, never slept for. */
  let clock = new Date();
  let keyId: string;

  before(async () => {
    database = await engine.open();
    sink = await startSmtpSink({
      holdData: () => {
        held++;
        return gate;
      },
    });
    const context = createContext(loadConfig({ MAILERDASH_HOSTNAME: 'mta.test' }), database, createLogger('silent'));
    keyId = (await context.services.keys.createKey({ name: 'lease', domains: [] })).key.id;
  });
  after(async () => {
    letGo();
    await sink.close();
    await database.close();
  });

  const sender = () =>
    createSendJob({
      db: database.db,
      transport: createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 4 }),
      logger: createLogger('silent'),
      hostname: 'mta.test',
      bounceDomain: 'bounce.test',
      bulkRate: 0,
      bulkConcurrency: 4,
      leaseMs: LEASE,
      now: () => clock,
    });
  const until = async (condition: () => boolean | Promise<boolean>, what: string) => {
    for (const deadline = Date.now() + 20_000; !(await condition()); await new Promise((r) => setImmediate(r))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
  };

  it('a live sender keeps its messages past the lease; a dead one loses them within one lease, and then renews nothing', async () => {
    const { ids } = await queueTestMessages(database.db, { keyId }, [{ email: 'a@example.org' }, { email: 'b@example.org' }, { email: 'c@example.org' }]);
    clock = new Date(Date.now() + 1000);
    const start = clock.getTime();
    const alive = sender();
    const other = sender();
    const sending = alive.runOnce();
    const attempts = async () => (await database.db.selectFrom('messages').select('attempts').where('id', 'in', ids).where('status', '=', 'sending').execute()).map((r) => r.attempts);
    await until(async () => held > 0 && (await attempts()).join() === '1,1,1', 'the three messages claimed, and the server holding the first');

    clock = new Date(start + LEASE * 0.6);
    assert.equal(await alive.renewLeases(), 3, 'past half the lease, all three are renewed');
    assert.equal(await alive.renewLeases(), 0, 'and not again until half the new lease is gone');
    clock = new Date(start + LEASE * 1.2);
    assert.equal(await other.runOnce(), 0, 'past the first lease, another worker takes nothing from a live sender');

    // The sender stops beating (as if it died): one lease after its last renewal, the messages are taken over.
    clock = new Date(start + LEASE * 0.6 + LEASE + 1);
    const takeover = other.runOnce();
    await until(async () => (await attempts()).join() === '2,2,2', 'each message claimed again by the other worker');
    assert.equal(await alive.renewLeases(), 0, 'the old holder renews nothing once another worker holds the attempt');

    letGo();
    await Promise.all([sending, takeover]);
    const final = await database.db.selectFrom('messages').select(['status', 'attempts']).where('id', 'in', ids).execute();
    assert.deepEqual(final.map((r) => [r.status, r.attempts]), [['sent', 2], ['sent', 2], ['sent', 2]], "the new holder's outcomes are the ones recorded");
    await alive.close();
    await other.close();
  });
});
