// The campaign dispatcher creating its chunks already claimed by the sender of its own process.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import pino from 'pino';
import { describeEachEngine } from '../../test/support/engines.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp-sink.ts';
import { createHandOff, type HandOff } from '../delivery/hand-off.ts';
import { createSmtpTransport } from '../delivery/smtp/transport.ts';
import { NEVER } from '../modules/campaigns/repo.ts';
import { createCampaignDispatcher } from './campaign-dispatcher.ts';
import { createSendJob } from './send-job.ts';

const MEMBERS = 30;
const json = { 'content-type': 'application/json' };

describeEachEngine('campaign hand-off to the sender', (engine) => {
  let h: Harness;
  let sink: SmtpSink;
  let key: { id: string; secret: string };
  const closers: Array<() => Promise<void>> = [];
  const logger = pino({ level: 'silent' });

  before(async () => {
    h = await startHarness(engine);
    sink = await startSmtpSink();
    key = await h.newKey('news', ['news.test']);
    const db = h.database.db;
    await db.insertInto('lists').values({ id: 'handoff-a1b2c3', key_id: key.id, name: 'Hand-off', description: null }).execute();
    await db.insertInto('templates').values({ id: 'handoff-tpl-a1b2c3', key_id: key.id, name: 'T', subject: 'Hi {{ name }}', html: '<p>Hi {{ name }}</p>', body_text: null }).execute();
    const contacts = await db
      .insertInto('contacts')
      .values(Array.from({ length: MEMBERS }, (_, i) => ({ key_id: key.id, email: `member${i}@rcpt.test`, name: `Member ${i}` })))
      .returning('id')
      .execute();
    await db.insertInto('list_members').values(contacts.map((c) => ({ list_id: 'handoff-a1b2c3', contact_id: c.id }))).execute();
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await sink.close();
    await h.close();
  });
  beforeEach(() => sink.received.splice(0));

  async function startCampaign(name: string): Promise<string> {
    const created = await h.call({
      method: 'POST',
      url: '/v1/bulk/campaigns',
      headers: json,
      auth: key.secret,
      payload: { name, list_id: 'handoff-a1b2c3', template_id: 'handoff-tpl-a1b2c3', from_email: 'news@news.test' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as string;
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${id}/send`, auth: key.secret })).statusCode, 200);
    return id;
  }

  function workers(handOff: HandOff) {
    const transport = createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 2 });
    const sender = createSendJob({ db: h.database.db, transport, logger, hostname: 'mta.test', bounceDomain: 'bounce.test', bulkRate: 0, bulkConcurrency: 4, handOff });
    closers.push(() => sender.close());
    const dispatcher = createCampaignDispatcher({ db: h.database.db, logger, handOff, chunkSize: 50, roomWaitMs: 1 });
    return { sender, dispatcher };
  }

  /** A campaign whose members were all dispatched and handed to a sender that has sent none yet. */
  async function handedCampaign(name: string) {
    const handOff = createHandOff({ capacity: 100, leaseMs: 60_000 });
    const { sender, dispatcher } = workers(handOff);
    const id = await startCampaign(name);
    await dispatcher.runOnce();
    return { id, sender, handOff };
  }

  const messagesOf = (campaignId: string) =>
    h.database.db.selectFrom('messages').select(['id', 'status', 'attempts', 'lease_until', 'due_at', 'to_email']).where('campaign_id', '=', campaignId).execute();

  it('creates a chunk claimed by the sender (no claim needed), as much as it has room for, and sends it once', async () => {
    const handOff = createHandOff({ capacity: 20, leaseMs: 60_000 });
    const { sender, dispatcher } = workers(handOff);
    const id = await startCampaign('Hand-off');
    const before = Date.now();

    assert.equal(await dispatcher.runOnce(), 20);
    const made = await messagesOf(id);
    assert.equal(made.length, 20);
    for (const m of made) {
      assert.deepEqual([m.status, m.attempts], ['sending', 1]);
      assert.ok(m.lease_until && m.lease_until.getTime() >= before + 59_000, 'leased like a claim');
    }
    assert.equal(handOff.room(), 0);
    // No room: the dispatcher waits rather than running ahead of the sender.
    assert.equal(await dispatcher.runOnce(), 0);
    assert.equal((await messagesOf(id)).length, 20);

    assert.equal(await sender.runOnce(), 20);
    assert.equal(sink.received.length, 20);
    assert.ok((await messagesOf(id)).every((m) => m.status === 'sent'));
    const logged = (await h.call({ method: 'GET', url: `/v1/messages/${made[0]!.id}`, auth: key.secret })).json();
    assert.deepEqual(logged.events.map((e: { type: string }) => e.type), ['queued', 'sent'], 'a campaign message has a whole timeline too');

    assert.ok((await dispatcher.runOnce()) >= MEMBERS - 20);
    assert.equal(await sender.runOnce(), MEMBERS - 20);
    await dispatcher.runOnce();
    const addresses = sink.received.map((m) => m.to[0]).sort();
    assert.deepEqual(addresses, Array.from({ length: MEMBERS }, (_, i) => `member${i}@rcpt.test`).sort());
    const campaign = await h.call({ method: 'GET', url: `/v1/bulk/campaigns/${id}`, auth: key.secret });
    assert.equal(campaign.json().status, 'sent');
  });

  it('a pause after the hand-off holds the handed messages; resume sends them', async () => {
    const { id, sender } = await handedCampaign('Paused');
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${id}/pause`, auth: key.secret })).json().status, 'paused');
    await sender.runOnce();
    assert.equal(sink.received.length, 0);
    const held = await messagesOf(id);
    assert.equal(held.length, MEMBERS);
    assert.ok(held.every((m) => m.status === 'queued' && m.attempts === 0 && m.due_at.getTime() === NEVER.getTime()), JSON.stringify(held[0]));

    await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${id}/resume`, auth: key.secret });
    while ((await sender.runOnce()) > 0);
    assert.equal(sink.received.length, MEMBERS);
  });

  it('a cancel after the hand-off drops the handed messages', async () => {
    const { id, sender } = await handedCampaign('Cancelled');
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${id}/cancel`, auth: key.secret })).json().status, 'cancelled');
    await sender.runOnce();
    assert.equal(sink.received.length, 0);
    assert.ok((await messagesOf(id)).every((m) => m.status === 'dropped'));
  });

  it('a sender that stops gives its handed messages back to the queue at once', async () => {
    const { id, sender, handOff } = await handedCampaign('Stopped');
    sender.stop();
    await sender.close();
    const back = await messagesOf(id);
    assert.equal(back.length, MEMBERS);
    assert.ok(back.every((m) => m.status === 'queued' && m.attempts === 0 && m.lease_until === null), JSON.stringify(back[0]));
    assert.equal(handOff.room(), 100);
  });
});
