import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import pino from 'pino';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { slugId } from '../../lib/ids.ts';
import { createCampaignDispatcher } from '../../workers/campaign-dispatcher.ts';

const json = { 'content-type': 'application/json' };
const CONTACTS = 1000;

describeEachEngine('campaign delivery end to end', (engine) => {
  let h: Harness;
  let sink: SmtpSink;
  let dns: TestDnsServer;
  let key: { id: string; secret: string };
  let listId: string;
  let templateId: string;
  const suppressed = new Set<string>();
  const refuse = new Map<string, { code: number; message: string }>();

  const address = (i: number) => `reader${i}@rcpt.test`;
  const db = () => h.database.db;

  async function newList(name: string, emails: string[]): Promise<string> {
    const id = slugId(name);
    await db().insertInto('lists').values({ id, key_id: key.id, name, description: null }).execute();
    const contacts = await db().selectFrom('contacts').select('id').where('key_id', '=', key.id).where('email', 'in', emails).execute();
    await db().insertInto('list_members').values(contacts.map((c) => ({ list_id: id, contact_id: c.id }))).execute();
    return id;
  }

  async function campaign(list: string, name: string): Promise<string> {
    const res = await h.call({
      method: 'POST',
      url: '/v1/bulk/campaigns',
      headers: json,
      auth: key.secret,
      payload: { name, list_id: list, template_id: templateId, from_email: 'news@news.test', from_name: 'News', subject: 'Hello {{ name }}' },
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id;
  }

  async function send(id: string) {
    const res = await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${id}/send`, auth: key.secret });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'send');
  }

  const stats = async (id: string) => (await h.call({ method: 'GET', url: `/v1/bulk/campaigns/${id}/stats`, auth: key.secret })).json();
  const status = async (id: string) => (await h.call({ method: 'GET', url: `/v1/bulk/campaigns/${id}`, auth: key.secret })).json().status;
  const contactStatus = async (email: string) => (await db().selectFrom('contacts').select('status').where('email', '=', email).executeTakeFirstOrThrow()).status;

  before(async () => {
    sink = await startSmtpSink({ onRecipient: (a) => refuse.get(a) ?? null });
    dns = await startDnsServer({});
    h = await startHarness(engine, { MAILERDASH_SMTP_URL: sink.url(), MAILERDASH_PUBLIC_URL: 'https://links.test', MAILERDASH_BOUNCE_DOMAIN: 'bounce.test' });
    key = await h.newKey('news', ['news.test']);
    const domain = await db().selectFrom('domains').selectAll().where('domain', '=', 'news.test').executeTakeFirstOrThrow();
    dns.zone[`${domain.dkim_selector}._domainkey.news.test`] = [{ type: 'TXT', data: `v=DKIM1; k=rsa; p=${domain.dkim_public_key}` }];

    await db()
      .insertInto('contacts')
      .values(Array.from({ length: CONTACTS }, (_, i) => ({ key_id: key.id, email: address(i), name: `Reader ${i}`, metadata: JSON.stringify({ plan: i % 2 ? 'pro' : 'free' }) })))
      .execute();
    // 50 held back: 20 on the suppression list only, 10 each by contact status.
    const held = Array.from({ length: 50 }, (_, k) => k * 19 + 3);
    for (const [k, i] of held.entries()) {
      suppressed.add(address(i));
      if (k < 20) continue;
      const st = k < 30 ? 'unsubscribed' : k < 40 ? 'bounced' : 'complained';
      await db().updateTable('contacts').set({ status: st }).where('email', '=', address(i)).execute();
    }
    const manual = await h.call({ method: 'POST', url: '/v1/suppressions', headers: json, auth: key.secret, payload: { emails: held.slice(0, 20).map(address) } });
    assert.equal(manual.json().added, 20);

    templateId = slugId('Newsletter');
    await db()
      .insertInto('templates')
      .values({
        id: templateId,
        key_id: key.id,
        name: 'Newsletter',
        subject: 'Template subject',
        html: '<p>Hi {{ name }}, your plan is {{ metadata.plan }}.</p><p><a href="https://shop.test/sale?x=1">Sale</a></p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
        body_text: 'Hi {{ name }}. Unsubscribe: {{ unsubscribe_url }}',
      })
      .execute();
    listId = await newList('Everyone', Array.from({ length: CONTACTS }, (_, i) => address(i)));
  });

  after(async () => {
    for (const job of h.context.jobs) await (job as { close?: () => Promise<void> }).close?.();
    await h.close();
    await sink.close();
    await dns.close();
  });

  it('a campaign to 1,000 contacts with 50 suppressed arrives exactly once at every other address, with bulk headers under DKIM', { timeout: 240_000 }, async () => {
    const id = await campaign(listId, 'First issue');
    await send(id);
    await h.workers.drain();

    assert.equal(sink.received.length, CONTACTS - 50);
    for (let i = 0; i < CONTACTS; i++) assert.equal(sink.countFor(address(i)), suppressed.has(address(i)) ? 0 : 1, address(i));
    assert.equal(await status(id), 'sent');
    const s = await stats(id);
    assert.deepEqual(
      { recipients: s.recipients, sent: s.sent, skipped: s.skipped_suppressed, bounced: s.bounced, failed: s.failed, pending: s.pending },
      { recipients: CONTACTS - 50, sent: CONTACTS - 50, skipped: 50, bounced: 0, failed: 0, pending: 0 },
    );

    const mail = sink.received.find((m) => m.to[0] === address(1))!;
    const parsed = await simpleParser(mail.raw);
    assert.equal(parsed.subject, 'Hello Reader 1');
    assert.equal(parsed.headers.get('x-md-channel'), 'bulk');
    const headerBlock = mail.raw.toString().split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
    const listUnsubscribe = headerBlock.split('\r\n').find((l) => l.startsWith('List-Unsubscribe: '))?.slice('List-Unsubscribe: '.length) ?? '';
    assert.match(listUnsubscribe, /^<https:\/\/links\.test\/u\/msg_[a-z0-9]+\.[0-9a-f]{24}>, <mailto:unsubscribe\+msg_[a-z0-9]+\.[0-9a-f]{24}@bounce\.test>$/);
    assert.ok(headerBlock.split('\r\n').includes('List-Unsubscribe-Post: List-Unsubscribe=One-Click'));
    assert.match(parsed.html as string, /your plan is pro\./);
    assert.match(parsed.html as string, /https:\/\/links\.test\/t\/c\/msg_[^"]+\?u=https%3A%2F%2Fshop\.test%2Fsale%3Fx%3D1/);
    assert.match(parsed.html as string, /https:\/\/links\.test\/t\/o\/msg_/);
    assert.match(parsed.text!, /Unsubscribe: https:\/\/links\.test\/u\/msg_/);

    const signature = parsed.headers.get('dkim-signature') as { params?: { h?: string } } | undefined;
    const signed = (signature?.params?.h ?? '').toLowerCase().split(':').map((x) => x.trim());
    for (const header of ['list-unsubscribe', 'list-unsubscribe-post', 'x-md-channel', 'from', 'subject']) assert.ok(signed.includes(header), `DKIM covers ${header}`);
    const resolver = new Resolver();
    resolver.setServers([dns.address]);
    const verified = await dkimVerify(mail.raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') as Promise<string[][]> });
    assert.equal(verified.results[0]?.status.result, 'pass');
  });

  it('a one-click POST unsubscribes, and the next campaign skips that contact; opens and clicks show in stats and engagement', { timeout: 240_000 }, async () => {
    const first = await db().selectFrom('campaigns').select('id').where('name', '=', 'First issue').executeTakeFirstOrThrow();
    const mail = sink.received.find((m) => m.to[0] === address(2))!;
    const url = new URL(mail.raw.toString().match(/<(https:\/\/links\.test\/u\/[^>]+)>/)![1]!);
    const res = await h.call({ method: 'POST', url: url.pathname, auth: null, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    assert.equal(res.statusCode, 200);
    assert.equal(await contactStatus(address(2)), 'unsubscribed');

    const parsed = await simpleParser(sink.received.find((m) => m.to[0] === address(4))!.raw);
    const pixel = new URL((parsed.html as string).match(/src="(https:\/\/links\.test\/t\/o\/[^"]+)"/)![1]!.replace(/&amp;/g, '&'));
    const click = new URL((parsed.html as string).match(/href="(https:\/\/links\.test\/t\/c\/[^"]+)"/)![1]!.replace(/&amp;/g, '&'));
    assert.equal((await h.call({ method: 'GET', url: pixel.pathname, auth: null })).statusCode, 200);
    const redirect = await h.call({ method: 'GET', url: click.pathname + click.search, auth: null });
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, 'https://shop.test/sale?x=1');
    const s = await stats(first.id);
    assert.deepEqual([s.opened, s.clicked, s.unsubscribed], [1, 1, 1]);
    const engagement = (await h.call({ method: 'GET', url: `/v1/bulk/contacts/${encodeURIComponent(address(4))}/engagement`, auth: key.secret })).json();
    assert.equal(engagement.sends.length, 1);
    assert.deepEqual({ ...engagement.sends[0], sent_at: undefined }, { campaign_id: first.id, campaign_name: 'First issue', sent_at: undefined, opened: true, clicked: true });
    assert.deepEqual(engagement.totals, { sends: 1, opens: 1, clicks: 1 });
    assert.equal(engagement.score, 'active');
    assert.ok(engagement.last_engagement_at);

    const before = sink.received.length;
    const id = await campaign(listId, 'Second issue');
    await send(id);
    await h.workers.drain();
    assert.equal(sink.received.length - before, CONTACTS - 51);
    assert.equal(sink.countFor(address(2)), 1);
    assert.equal((await stats(id)).skipped_suppressed, 51);
  });

  it('a 5xx from the receiving server marks the contact bounced and suppresses it', { timeout: 240_000 }, async () => {
    const emails = ['ok1@rcpt.test', 'gone@rcpt.test', 'ok2@rcpt.test'];
    await db().insertInto('contacts').values(emails.map((email) => ({ key_id: key.id, email, name: null }))).execute();
    refuse.set('gone@rcpt.test', { code: 550, message: '5.1.1 no such user' });
    const id = await campaign(await newList('Small', emails), 'Bounce check');
    await send(id);
    await h.workers.drain();
    assert.equal(sink.countFor('ok1@rcpt.test') + sink.countFor('ok2@rcpt.test'), 2);
    assert.equal(await contactStatus('gone@rcpt.test'), 'bounced');
    const entry = (await h.call({ method: 'GET', url: '/v1/suppressions/gone@rcpt.test', auth: key.secret })).json();
    assert.equal(entry.reason, 'bounce');
    assert.equal(entry.source_type, 'message');
    const s = await stats(id);
    assert.deepEqual([s.sent, s.bounced], [2, 1]);
    assert.equal(await status(id), 'sent');
  });

  it('a worker killed mid-campaign and restarted sends every contact exactly once', { timeout: 240_000 }, async () => {
    const emails = Array.from({ length: 250 }, (_, i) => `crash${i}@rcpt.test`);
    await db().insertInto('contacts').values(emails.map((email) => ({ key_id: key.id, email, name: null }))).execute();
    const id = await campaign(await newList('Crash', emails), 'Crash check');
    await send(id);

    let chunks = 0;
    const dying = createCampaignDispatcher({
      db: db(),
      logger: pino({ level: 'silent' }),
      chunkSize: 40,
      beforeCommit: () => {
        if (++chunks === 3) throw new Error('worker killed');
      },
    });
    assert.equal(await dying.runOnce(), 40);
    assert.equal(await dying.runOnce(), 40);
    await assert.rejects(dying.runOnce(), /worker killed/);
    const mid = await db().selectFrom('campaigns').select(['cursor_contact_id', 'dispatch_done']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(mid.dispatch_done, false);
    const made = await db().selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(Number(made.n), 80);

    // A restart that also lost its cursor (the worst case) still creates no second message for anyone.
    await sql`update campaigns set cursor_contact_id = 0 where id = ${id}`.execute(db());
    const before = sink.received.length;
    await h.workers.drain();
    assert.equal(sink.received.length - before, 250);
    for (const email of emails) assert.equal(sink.countFor(email), 1, email);
    assert.equal(await status(id), 'sent');
    assert.equal((await stats(id)).recipients, 250);
  });
});
