// What writes each event type: the real paths (send job and SMTP replies, campaign lifecycle,
// tracking links, contact status), checked in the outbox they write in the same transaction.
import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { emitEvents } from './outbox.ts';

const json = { 'content-type': 'application/json' };

describeEachEngine('events written with the changes they report', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let key: { id: string; secret: string };
  const refuse = new Map<string, { code: number; message: string }>();

  const db = () => h.database.db;
  const events = async (type?: string) => {
    let query = db().selectFrom('events').select(['type', 'data', 'key_id']).orderBy('seq');
    if (type) query = query.where('type', '=', type);
    return (await query.execute()).map((e) => ({ ...e, data: (typeof e.data === 'string' ? JSON.parse(e.data) : e.data) as Record<string, any> }));
  };
  const runJob = async (name: string) => {
    const job = h.context.jobs.find((j) => j.name === name)!;
    while ((await job.runOnce()) > 0);
  };
  const send = async (to: string, extra: Record<string, unknown> = {}, channel = 'trans') => {
    const res = await h.call({
      method: 'POST',
      url: '/v1/mail/send',
      headers: { ...json, 'x-md-channel': channel },
      auth: key.secret,
      payload: { personalizations: [{ to: [{ email: to }] }], from: { email: 'app@alice.test' }, subject: 'Hi', content: [{ type: 'text/plain', value: 'Hi' }], ...extra },
    });
    assert.equal(res.statusCode, 202, res.body);
    return String(res.headers['x-message-id']);
  };

  before(async () => {
    dns = await startDnsServer({ 'rcpt.test': [{ type: 'MX', exchange: 'mx.rcpt.test', priority: 10 }] });
    sink = await startSmtpSink({ onRecipient: (address) => refuse.get(address) ?? null });
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url() });
    key = await h.newKey('alice', ['alice.test']);
    const res = await h.call({ method: 'POST', url: '/v1/webhooks', headers: json, auth: key.secret, payload: { url: 'https://hooks.example.com/x' } });
    // The webhook's host resolves nowhere here; creating it directly keeps the test about the outbox.
    assert.equal(res.statusCode, 400);
    await db()
      .insertInto('webhooks')
      .values({ id: 'wh_events_test', key_id: key.id, url: 'https://hooks.example.com/x', description: null, events: ['*'], enabled: true, secret_sealed: await h.context.webhookSecrets.seal('whsec_x') })
      .execute();
  });
  beforeEach(async () => {
    await db().deleteFrom('events').execute();
  });
  after(async () => {
    await h.close();
    await sink.close();
    await dns.close();
  });

  it('the send job reports sent, bounced and deferred with the SMTP reply', async () => {
    refuse.set('gone@rcpt.test', { code: 550, message: '5.1.1 no such user' });
    refuse.set('later@rcpt.test', { code: 451, message: '4.7.1 try later' });
    await send('ana@rcpt.test', { custom_args: { order: '7' } });
    await send('gone@rcpt.test');
    await send('later@rcpt.test');
    await runJob('send');
    const byEmail = new Map((await events()).map((e) => [e.data.email, e]));
    assert.equal(byEmail.get('ana@rcpt.test')?.type, 'message.sent');
    assert.match(byEmail.get('ana@rcpt.test')!.data.response, /^250/);
    assert.deepEqual(byEmail.get('ana@rcpt.test')!.data.custom_args, { order: '7' });
    assert.equal(byEmail.get('gone@rcpt.test')?.type, 'message.bounced');
    assert.match(byEmail.get('gone@rcpt.test')!.data.response, /^550/);
    const deferred = byEmail.get('later@rcpt.test')!;
    assert.equal(deferred.type, 'message.deferred');
    assert.equal(deferred.data.attempt, 1);
    assert.ok(Date.parse(deferred.data.retry_at) > Date.now());
  });

  it('bulk mail to a suppressed recipient is reported dropped', async () => {
    await h.call({ method: 'POST', url: '/v1/suppressions', headers: json, auth: key.secret, payload: { email: 'blocked@rcpt.test' } });
    await send('blocked@rcpt.test', {}, 'bulk');
    await runJob('send');
    const [dropped] = await events('message.dropped');
    assert.equal(dropped?.data.email, 'blocked@rcpt.test');
    assert.equal(dropped?.data.reason, 'suppressed (manual)');
  });

  it('campaigns report paused, cancelled (with each unsent message dropped) and sent', async () => {
    await db().insertInto('lists').values({ id: 'ev-list-a1b2c3', key_id: key.id, name: 'Ev', description: null }).execute();
    await db().insertInto('templates').values({ id: 'ev-tpl-a1b2c3', key_id: key.id, name: 'Ev', subject: 'Hi', html: null, body_text: 'Hi' }).execute();
    const contacts = await db()
      .insertInto('contacts')
      .values([1, 2, 3].map((n) => ({ key_id: key.id, email: `reader${n}@rcpt.test`, name: `R${n}` })))
      .returning('id')
      .execute();
    await db().insertInto('list_members').values(contacts.map((c) => ({ list_id: 'ev-list-a1b2c3', contact_id: c.id }))).execute();
    const campaign = async () => {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/campaigns', headers: json, auth: key.secret, payload: { name: 'Ev', list_id: 'ev-list-a1b2c3', template_id: 'ev-tpl-a1b2c3', from_email: 'news@alice.test' } });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${id}/send`, auth: key.secret })).statusCode, 200);
      return id;
    };
    const cancelled = await campaign();
    await runJob('campaign-dispatcher');
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${cancelled}/pause`, auth: key.secret })).statusCode, 200);
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${cancelled}/cancel`, auth: key.secret })).statusCode, 200);
    const types = (await events()).map((e) => e.type);
    assert.deepEqual(types.filter((t) => t.startsWith('campaign.')), ['campaign.paused', 'campaign.cancelled']);
    // Queued ones are dropped by the cancel itself, ones already handed to the sender when it meets them.
    await runJob('send');
    const dropped = await events('message.dropped');
    assert.equal(dropped.length, 3, 'every dispatched, unsent message of the cancelled campaign');
    assert.ok(dropped.every((e) => e.data.campaign_id === cancelled && e.data.reason === 'campaign cancelled'));

    await db().deleteFrom('events').execute();
    const sent = await campaign();
    for (let round = 0; round < 5; round++) await h.workers.drain();
    const finished = await events('campaign.sent');
    assert.deepEqual(finished.map((e) => e.data), [{ campaign_id: sent, key_id: key.id, name: 'Ev', status: 'sent' }]);
    assert.equal((await events('message.sent')).filter((e) => e.data.campaign_id === sent).length, 3);
  });

  it('tracking reports the first open, the first click and an unsubscribe (message and contact)', async () => {
    await db().insertInto('contacts').values({ key_id: key.id, email: 'reader@rcpt.test', name: 'R' }).execute();
    const requestId = await send('reader@rcpt.test');
    await runJob('send');
    const message = await db().selectFrom('messages').select('id').where('request_id', '=', requestId).executeTakeFirstOrThrow();
    const links = h.context.services.links;
    await links.ready();
    const path = (url: string) => url.replace(h.config.publicUrl, '');
    for (let i = 0; i < 2; i++) {
      assert.equal((await h.call({ method: 'GET', url: path(links.openPixelUrl(message.id)), auth: null })).statusCode, 200);
      const click = await h.call({ method: 'GET', url: path(links.clickUrl(message.id, 'https://alice.test/a')), auth: null });
      assert.equal(click.statusCode, 302);
    }
    const unsubscribe = await h.call({ method: 'POST', url: path(links.unsubscribeUrl(message.id)), auth: null, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    assert.equal(unsubscribe.statusCode, 200, unsubscribe.body);
    const types = (await events()).filter((e) => e.data.message_id === message.id || e.type.startsWith('contact.')).map((e) => e.type);
    assert.deepEqual(types.sort(), ['contact.unsubscribed', 'message.clicked', 'message.opened', 'message.sent', 'message.unsubscribed']);
    const [clicked] = await events('message.clicked');
    assert.equal(clicked?.data.url, 'https://alice.test/a');
    assert.equal(clicked?.data.message_id, message.id);
    const [contact] = await events('contact.unsubscribed');
    assert.deepEqual([contact?.data.email, contact?.data.previous_status], ['reader@rcpt.test', 'active']);
  });

  it('a key without a subscribed endpoint writes no event', async () => {
    await db().updateTable('webhooks').set({ events: ['campaign.*'] }).where('id', '=', 'wh_events_test').execute();
    try {
      await send('quiet@rcpt.test');
      await runJob('send');
      assert.deepEqual(await events(), []);
    } finally {
      await db().updateTable('webhooks').set({ events: ['*'] }).where('id', '=', 'wh_events_test').execute();
    }
  });

  it('of many events written together, exactly those whose key and type have a subscriber are kept', async () => {
    const other = await h.newKey('bob', ['bob.test']);
    await db().updateTable('webhooks').set({ events: ['sequence.step.sent', 'contact.*'] }).where('id', '=', 'wh_events_test').execute();
    try {
      const data = (n: number) => ({ n });
      const kept = await emitEvents(
        db(),
        [
          { keyId: key.id, type: 'sequence.step.sent', data: data(1) },
          { keyId: key.id, type: 'sequence.step.failed', data: data(2) },
          { keyId: other.id, type: 'sequence.step.sent', data: data(3) },
          { keyId: key.id, type: 'contact.unsubscribed', data: data(4) },
          { keyId: key.id, type: 'sequence.step.sent', data: data(5) },
        ],
        new Date(),
      );
      assert.equal(kept, 3);
      assert.deepEqual((await events()).map((e) => [e.key_id, e.type, e.data.n]), [
        [key.id, 'sequence.step.sent', 1],
        [key.id, 'contact.unsubscribed', 4],
        [key.id, 'sequence.step.sent', 5],
      ]);
    } finally {
      await db().updateTable('webhooks').set({ events: ['*'] }).where('id', '=', 'wh_events_test').execute();
    }
  });
});

