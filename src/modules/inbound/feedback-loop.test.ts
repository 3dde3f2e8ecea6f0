import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import nodemailer from 'nodemailer';
import { newId, slugId } from '../../lib/ids.ts';
import type { InboundListener } from './listener.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/support/webhook-receiver.ts';
import { arfMail, dsnMail, outOfOfficeMail } from './test-fixtures.ts';

const json = { 'content-type': 'application/json' };
const READERS = ['hard', 'complain', 'delivered', 'soft', 'unsub', 'auto', 'legacy'].map((n) => `${n}@rcpt.test`);

/**
 * The inbound feedback loop end to end: a real campaign sent through an SMTP sink, then real DSN,
 * ARF, auto-reply and unsubscribe mails sent with nodemailer to the listener on loopback, processed
 * by the worker, and checked on the message, the contact, the suppression list, the sequence
 * subscription, the delivered webhooks and the campaign's statistics.
 */
describeEachEngine('inbound feedback loop', (engine) => {
  let h: Harness;
  let sink: SmtpSink;
  let hooks: WebhookReceiver;
  let listener: InboundListener;
  let port: number;
  let key: { id: string; secret: string };
  let campaignId: string;
  const db = () => h.database.db;

  const mailTo = (email: string): ReceivedMail => sink.received.find((m) => m.to[0] === email)!;
  const messageOf = (email: string) => db().selectFrom('messages').selectAll().where('to_email', '=', email).where('campaign_id', '=', campaignId).executeTakeFirstOrThrow();
  const contact = (email: string) => db().selectFrom('contacts').select('status').where('key_id', '=', key.id).where('email', '=', email).executeTakeFirstOrThrow();
  const suppression = (email: string) => db().selectFrom('suppressions').selectAll().where('key_id', '=', key.id).where('email', '=', email).executeTakeFirst();
  const stats = async () => (await h.call({ method: 'GET', url: `/v1/bulk/campaigns/${campaignId}/stats`, auth: key.secret })).json();
  const hooksOf = (type: string) => hooks.received.map((r) => JSON.parse(r.body)).filter((b) => b.type === type);

  /** Runs every job until nothing is due, then lets the webhook deliveries in flight finish. */
  async function settle() {
    await h.workers.drain();
    const delivery = h.context.jobs.find((j) => j.name === 'webhook-delivery') as unknown as { runOnce(): Promise<number>; settle(): Promise<void> };
    await delivery.runOnce();
    await delivery.settle();
  }

  function client() {
    return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, tls: { rejectUnauthorized: false } });
  }
  async function deliver(to: string, raw: string, from = '') {
    const transport = client();
    try {
      return await transport.sendMail({ envelope: { from, to: [to] }, raw });
    } finally {
      transport.close();
    }
  }
  async function refused(to: string, raw: string): Promise<{ responseCode?: number; response?: string }> {
    try {
      await deliver(to, raw);
    } catch (error) {
      return error as { responseCode?: number; response?: string };
    }
    assert.fail(`${to} was accepted`);
  }

  before(async () => {
    sink = await startSmtpSink();
    hooks = await startWebhookReceiver();
    h = await startHarness(engine, {
      MAILERDASH_SMTP_URL: sink.url(),
      MAILERDASH_PUBLIC_URL: 'https://links.test',
      MAILERDASH_BOUNCE_DOMAIN: 'bounce.test',
      MAILERDASH_INBOUND_MAX_BYTES: '20000',
      MAILERDASH_SOFT_BOUNCE_LIMIT: '2',
      MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    });
    listener = h.context.createInboundListener();
    port = await listener.listen(0, '127.0.0.1');
    key = await h.newKey('news', ['news.test']);
    const hook = await h.call({ method: 'POST', url: '/v1/webhooks', headers: json, auth: key.secret, payload: { url: hooks.url(), events: ['message.bounced', 'message.complained', 'message.delivered', 'contact.unsubscribed'] } });
    assert.equal(hook.statusCode, 201, hook.body);

    await db().insertInto('contacts').values(READERS.map((email) => ({ key_id: key.id, email, name: email.split('@')[0]!, metadata: '{}' }))).execute();
    const contacts = await db().selectFrom('contacts').select(['id', 'email']).where('key_id', '=', key.id).execute();
    const listId = slugId('Everyone');
    await db().insertInto('lists').values({ id: listId, key_id: key.id, name: 'Everyone', description: null }).execute();
    await db().insertInto('list_members').values(contacts.map((c) => ({ list_id: listId, contact_id: c.id }))).execute();
    const templateId = slugId('Newsletter');
    await db().insertInto('templates').values({ id: templateId, key_id: key.id, name: 'Newsletter', subject: 'Hello', html: '<p>Hi {{ name }}</p>', body_text: 'Hi {{ name }}' }).execute();
    // hard@ is also subscribed to a sequence: a hard bounce cancels it.
    const sequenceId = newId('seq');
    await db().insertInto('sequences').values({ id: sequenceId, key_id: key.id, name: 'Welcome', status: 'active' }).execute();
    const hard = contacts.find((c) => c.email === READERS[0])!;
    await db()
      .insertInto('sequence_subscribers')
      .values({ id: newId('sub'), key_id: key.id, sequence_id: sequenceId, contact_id: hard.id, email: hard.email, status: 'active', started_at: new Date() })
      .execute();

    const created = await h.call({
      method: 'POST',
      url: '/v1/bulk/campaigns',
      headers: json,
      auth: key.secret,
      payload: { name: 'Issue 1', list_id: listId, template_id: templateId, from_email: 'news@news.test', from_name: 'News', subject: 'Hello' },
    });
    assert.equal(created.statusCode, 201, created.body);
    campaignId = created.json().id;
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${campaignId}/send`, auth: key.secret })).statusCode, 200);
    await h.workers.drain();
    assert.equal(sink.received.length, READERS.length);
  });

  after(async () => {
    await listener.close();
    for (const job of h.context.jobs) await job.close?.();
    await h.close();
    await sink.close();
    await hooks.close();
  });

  it('every message went out with a signed VERP return path', () => {
    for (const email of READERS) assert.match(mailTo(email).from, /^b-msg_[0-9a-z]+\.[0-9a-f]{24}@bounce\.test$/);
  });

  it('a hard-bounce DSN: message bounced, contact bounced, suppression from the DSN, sequence cancelled, webhook, statistics', async () => {
    const email = READERS[0]!;
    const message = await messageOf(email);
    await deliver(mailTo(email).from, dsnMail({ recipient: email, status: '5.1.1', diagnostic: '550 5.1.1 <hard@rcpt.test>: Recipient address rejected: User unknown in virtual mailbox table' }));
    await settle();
    const after = await messageOf(email);
    assert.equal(after.status, 'bounced');
    assert.match(after.last_response ?? '', /User unknown/);
    assert.equal((await contact(email)).status, 'bounced');
    const entry = await suppression(email);
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['bounce', 'dsn', message.id]);
    const sub = await db().selectFrom('sequence_subscribers').select(['status', 'cancel_reason']).where('email', '=', email).executeTakeFirstOrThrow();
    assert.deepEqual(sub, { status: 'cancelled', cancel_reason: 'bounced' });
    const [hook] = hooksOf('message.bounced');
    assert.equal(hook?.data.message_id, message.id);
    assert.equal(hook?.data.campaign_id, campaignId);
    assert.deepEqual([hook?.data.source, hook?.data.reason, hook?.data.status, hook?.data.detail.remote_mta], ['dsn', 'mailbox_unknown', '5.1.1', 'inbox.rcpt.test']);
    const s = await stats();
    assert.equal(s.bounced, 1);
    assert.equal(s.sent, READERS.length - 1);
    const report = await db().selectFrom('inbound_reports').selectAll().where('message_id', '=', message.id).executeTakeFirstOrThrow();
    assert.deepEqual([report.status, report.form, report.key_id], ['processed', 'dsn', key.id]);
  });

  it('an ARF complaint to the FBL address, recipient redacted, matched by the enclosed Message-ID', async () => {
    const email = READERS[1]!;
    const message = await messageOf(email);
    await deliver('fbl@bounce.test', arfMail({ originalMessageId: `${message.id}@mta.test`, recipient: email, redacted: true }));
    await settle();
    assert.equal((await messageOf(email)).status, 'sent');
    assert.equal((await contact(email)).status, 'complained');
    const entry = await suppression(email);
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['complaint', 'arf', message.id]);
    const [hook] = hooksOf('message.complained');
    assert.equal(hook?.data.message_id, message.id);
    assert.equal(hook?.data.feedback_type, 'abuse');
    assert.equal(hook?.data.detail.source_ip, '192.0.2.1');
    assert.equal(hook?.data.detail.arrival_date, 'Tue, 1 Dec 2026 10:05:00 +0000');
    assert.equal((await stats()).complained, 1);
  });

  it('a success DSN marks the message delivered', async () => {
    const email = READERS[2]!;
    const message = await messageOf(email);
    await deliver(mailTo(email).from, dsnMail({ recipient: email, action: 'delivered', status: '2.0.0', diagnostic: '250 2.0.0 Ok: queued as 4A3B' }));
    await settle();
    assert.equal((await contact(email)).status, 'active');
    assert.equal(await suppression(email), undefined);
    assert.deepEqual(hooksOf('message.delivered').map((h) => h.data.message_id), [message.id]);
    assert.equal((await stats()).delivered, 1);
  });

  it('soft bounces count per address: the second within the window makes it bounced', async () => {
    const email = READERS[3]!;
    const first = await messageOf(email);
    const full = { recipient: email, status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full' };
    await deliver(mailTo(email).from, dsnMail(full));
    await settle();
    assert.equal((await contact(email)).status, 'active');
    assert.equal(await suppression(email), undefined);
    assert.equal((await messageOf(email)).status, 'sent');
    // A second message to the same address soft-bounces too (its VERP token signed like the first's).
    const secondId = newId('msg');
    await db().insertInto('messages').values({ id: secondId, key_id: key.id, content_id: first.content_id, channel: 'bulk', lane: 1, status: 'sent', to_email: email, to_name: null, campaign_id: null }).execute();
    await deliver(h.context.services.links.returnPath(secondId), dsnMail(full));
    await settle();
    assert.equal((await contact(email)).status, 'bounced');
    const entry = await suppression(email);
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['bounce', 'dsn', secondId]);
    assert.equal((await db().selectFrom('messages').select('status').where('id', '=', secondId).executeTakeFirstOrThrow()).status, 'bounced');
  });

  it('a mailto unsubscribe unsubscribes exactly as the one-click POST does', async () => {
    const email = READERS[4]!;
    const message = await messageOf(email);
    const header = mailTo(email).raw.toString().split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
    const mailto = /<mailto:([^>]+)>/.exec(header)![1]!;
    await deliver(mailto, 'From: <unsub@rcpt.test>\r\nTo: <' + mailto + '>\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n', email);
    await settle();
    assert.equal((await contact(email)).status, 'unsubscribed');
    const entry = await suppression(email);
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['unsubscribe', 'campaign', campaignId]);
    const [hook] = hooksOf('contact.unsubscribed');
    assert.equal(hook?.data.email, email);
    const events = await db().selectFrom('message_events').select(['type', 'data']).where('message_id', '=', message.id).execute();
    assert.deepEqual(events.map((e) => [e.type, e.data]), [['unsubscribed', { method: 'mailto' }]]);
    assert.equal((await stats()).unsubscribed, 1);
  });

  it('an auto-reply changes nothing', async () => {
    const email = READERS[5]!;
    await deliver(mailTo(email).from, outOfOfficeMail(email), email);
    await settle();
    assert.equal((await messageOf(email)).status, 'sent');
    assert.equal((await contact(email)).status, 'active');
    assert.equal(await suppression(email), undefined);
    const report = await db().selectFrom('inbound_reports').select(['status', 'result']).where('rcpt_to', '=', mailTo(email).from).executeTakeFirstOrThrow();
    assert.equal(report.status, 'processed');
    assert.equal((report.result as { effect: string }).effect, 'ignored');
  });

  it('refuses a forged VERP token, relaying, an unknown local part and a forged unsubscribe at RCPT; nothing is stored', async () => {
    const before = await db().selectFrom('inbound_reports').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const message = await messageOf(READERS[6]!);
    const forged = await refused(`b-${message.id}.${'0'.repeat(24)}@bounce.test`, dsnMail({ recipient: READERS[6]! }));
    assert.equal(forged.responseCode, 550);
    assert.match(forged.response ?? '', /5\.7\.1 Invalid return path token/);
    const relay = await refused('someone@elsewhere.test', dsnMail({ recipient: 'someone@elsewhere.test' }));
    assert.equal(relay.responseCode, 550);
    assert.match(relay.response ?? '', /Relaying denied/);
    const unknown = await refused('postmaster2@bounce.test', dsnMail({ recipient: READERS[6]! }));
    assert.match(unknown.response ?? '', /5\.1\.1/);
    const unsub = await refused(`unsubscribe+${message.id}.${'f'.repeat(24)}@bounce.test`, 'Subject: x\r\n\r\nx\r\n');
    assert.match(unsub.response ?? '', /Invalid unsubscribe token/);
    const afterCount = await db().selectFrom('inbound_reports').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(afterCount.n), Number(before.n));
    assert.equal((await contact(READERS[6]!)).status, 'active');
  });

  it('refuses a message larger than the limit with 552', async () => {
    const email = READERS[6]!;
    const big = await refused(mailTo(email).from, dsnMail({ recipient: email, bodyBytes: 30_000 }));
    assert.equal(big.responseCode, 552);
    assert.equal(await suppression(email), undefined);
  });

  it('a legacy unsigned return path counts only with the enclosed original naming the same message; the rest is listed as unmatched (admin only)', async () => {
    const email = READERS[6]!;
    const message = await messageOf(email);
    const other = await messageOf(READERS[2]!);
    await deliver(`b-${message.id}@bounce.test`, dsnMail({ recipient: email, originalMessageId: `${other.id}@mta.test` }));
    await deliver('fbl@bounce.test', dsnMail({ recipient: email }));
    await settle();
    assert.equal((await contact(email)).status, 'active');
    assert.equal((await contact(READERS[2]!)).status, 'active');
    const listed = await h.call({ method: 'GET', url: '/v1/inbound?status=unmatched' });
    assert.equal(listed.statusCode, 200);
    assert.equal(listed.json().total, 2);
    assert.deepEqual(listed.json().data.map((r: { rcpt_to: string[] }) => r.rcpt_to[0]).sort(), [`b-${message.id}@bounce.test`, 'fbl@bounce.test']);
    const one = await h.call({ method: 'GET', url: `/v1/inbound/${listed.json().data[0].id}` });
    assert.match(one.json().raw, /Undelivered Mail Returned to Sender/);
    assert.equal((await h.call({ method: 'GET', url: '/v1/inbound', auth: key.secret })).statusCode, 403);

    await deliver(`b-${message.id}@bounce.test`, dsnMail({ recipient: email, originalMessageId: `${message.id}@mta.test` }));
    await settle();
    assert.equal((await contact(email)).status, 'bounced');
  });
});
