import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import pino from 'pino';
import { startDnsServer, type TestDnsServer } from '../../test/support/dns-server.ts';
import { describeEachEngine } from '../../test/support/engines.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { createHandOff } from '../delivery/hand-off.ts';
import { SEND_ZONE, clone } from '../modules/send/test-fixtures.ts';
import { createBatchDispatcher } from './batch-dispatcher.ts';

const logger = pino({ level: 'silent' });

describeEachEngine('batch slice dispatcher', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let principal: { keyId: string; name: string; admin: boolean };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    const key = await h.newKey('slices', ['tu-dominio.com']);
    principal = { keyId: key.id, name: 'slices', admin: false };
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  const submit = async (recipients: number, extra: Record<string, unknown> = {}) => {
    const body = { from: { email: 'news@tu-dominio.com' }, subject: 'Hola {{name}}', content: [{ type: 'text/plain', value: 'Hola' }], custom_args: { run: 'slices' }, ...extra, recipients: Array.from({ length: recipients }, (_, i) => ({ email: `r${i}@example.com`, name: `R${i}` })) };
    const res = await h.context.services.batches.submit(principal, Readable.from([Buffer.from(JSON.stringify(body))]), null);
    return (res.body as { id: string }).id;
  };
  const messagesOf = (batchId: string) => h.database.db.selectFrom('messages').select(['id', 'status', 'lease_until', 'attempts', 'personalization']).where('batch_id', '=', batchId).execute();

  it('accepts without making messages, then makes them a slice at a time, claimed into the hand-off, each once', async () => {
    const batchId = await submit(25);
    assert.equal((await messagesOf(batchId)).length, 0, 'acceptance makes no message');
    assert.equal((await h.context.services.batches.get(principal, batchId)).counts.queued, 25, 'unreleased recipients count as queued');

    const handOff = createHandOff({ capacity: 10, leaseMs: 30_000 });
    const dispatcher = createBatchDispatcher({ db: h.database.db, logger, handOff, sliceSize: 10, roomWaitMs: 10 });
    assert.equal(await dispatcher.runOnce(), 10);
    assert.equal(await dispatcher.runOnce(), 0, 'no room in the hand-off: nothing more is made');
    const handed = handOff.takeAll();
    assert.equal(handed.length, 10);
    assert.ok(handed.every((m) => m.batch_id === batchId && m.attempts === 1), 'handed rows carry their batch, for the router');
    const made = await messagesOf(batchId);
    assert.equal(made.length, 10);
    assert.ok(made.every((m) => m.status === 'sending' && m.lease_until !== null), 'made already claimed, with a lease');
    assert.deepEqual((made[0]!.personalization as { custom_args: unknown }).custom_args, { run: 'slices' });

    // Without a hand-off (another process's worker), the rest is queued for any worker.
    const queued = createBatchDispatcher({ db: h.database.db, logger, sliceSize: 10 });
    assert.equal(await queued.runOnce(), 10);
    assert.equal(await queued.runOnce(), 5);
    assert.equal(await queued.runOnce(), 0, 'every recipient released');
    const all = await messagesOf(batchId);
    assert.equal(all.length, 25);
    assert.equal(new Set(all.map((m) => m.id)).size, 25);
    assert.equal(all.filter((m) => m.status === 'queued').length, 15);

    // A slice made again (a crash between its commit and the cursor would be one) creates nothing twice.
    await h.database.db.insertInto('batch_releases').values({ batch_id: batchId, key_id: principal.keyId, updated_at: new Date() }).execute();
    assert.equal(await queued.runOnce(), 10);
    while ((await queued.runOnce()) > 0);
    assert.equal((await messagesOf(batchId)).length, 25);
  });

  it('a cancel drops the recipients not released yet, counted and exported as dropped', async () => {
    const batchId = await submit(12);
    const dispatcher = createBatchDispatcher({ db: h.database.db, logger, sliceSize: 5 });
    assert.equal(await dispatcher.runOnce(), 5);
    const cancelled = await h.context.services.batches.cancel(principal, batchId);
    assert.equal(cancelled.counts.dropped, 12);
    assert.equal(cancelled.counts.queued, 0);
    assert.equal(await dispatcher.runOnce(), 0, 'a cancelled batch releases nothing more');
    let csv = '';
    for await (const piece of h.context.services.batches.exportStream(batchId, 'csv')) csv += piece;
    assert.equal(csv.trim().split('\r\n').slice(1).filter((line) => line.split(',')[2] === 'dropped').length, 12);
  });

  it('a batch scheduled for later releases nothing before its send_at', async () => {
    const batchId = await submit(3, { send_at: Math.floor(Date.now() / 1000) + 3600 });
    const dispatcher = createBatchDispatcher({ db: h.database.db, logger });
    assert.equal(await dispatcher.runOnce(), 0);
    assert.equal((await messagesOf(batchId)).length, 0);
  });
});
