// Retention with an injected clock over real mail: what is past retention goes, what is in flight
// stays, and the statistics (aggregates) read the same before and after.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pino from 'pino';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { createRetentionJob } from '../../workers/retention.ts';
import { up as backfill } from '../../db/migrations/1202_stat_counts_backfill.ts';

const json = { 'content-type': 'application/json' };
const DAY = 86_400_000;

describeEachEngine('retention and the statistics that outlive it', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let key: { id: string; secret: string };
  const refuse = new Map<string, { code: number; message: string }>([
    ['gone@rcpt.test', { code: 550, message: '5.1.1 no such user' }],
    ['later@rcpt.test', { code: 451, message: '4.7.1 try later' }],
  ]);
  const db = () => h.database.db;
  const runJob = async (name: string) => {
    const job = h.context.jobs.find((j) => j.name === name)!;
    while ((await job.runOnce()) > 0);
  };
  const retire = async (at: Date, days = { retentionDays: 30, contentRetentionDays: 30 }) => {
    const job = createRetentionJob({ db: db(), logger: pino({ level: 'silent' }), ...days, batchSize: 2, pauseFactor: 0, maxYieldMs: 0, now: () => at });
    let total = 0;
    for (let n; (n = await job.runOnce()) > 0; ) total += n;
    return total;
  };
  const send = async (to: string) => {
    const res = await h.call({
      method: 'POST',
      url: '/v1/mail/send',
      headers: json,
      auth: key.secret,
      payload: { personalizations: [{ to: [{ email: to }] }], from: { email: 'app@alice.test' }, subject: 'Hi', content: [{ type: 'text/plain', value: 'Hi' }] },
    });
    assert.equal(res.statusCode, 202, res.body);
  };
  const get = async (url: string, auth = key.secret) => {
    const res = await h.call({ method: 'GET', url, auth });
    return { status: res.statusCode, body: res.json() };
  };
  let campaignId = '';
  const figures = async () => {
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const from = new Date(hour - DAY).toISOString();
    const to = new Date(hour + DAY).toISOString();
    return {
      hourly: (await get(`/v1/stats?interval=hour&from=${from}&to=${to}`)).body,
      bulk: (await get(`/v1/stats?interval=day&channel=bulk&from=${from}&to=${to}`)).body,
      campaign: (await get(`/v1/bulk/campaigns/${campaignId}/stats`)).body,
    };
  };

  before(async () => {
    dns = await startDnsServer({ 'rcpt.test': [{ type: 'MX', exchange: 'mx.rcpt.test', priority: 10 }] });
    sink = await startSmtpSink({ onRecipient: (address) => refuse.get(address) ?? null });
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url() });
    key = await h.newKey('alice', ['alice.test']);
    // Transactional: one sent, one bounced, one deferred (in flight for a long while).
    for (const to of ['ana@rcpt.test', 'gone@rcpt.test', 'later@rcpt.test']) await send(to);
    await runJob('send');
    // A campaign to three contacts, one of whom opens it.
    await db().insertInto('lists').values({ id: 'ret-list-a1b2c3', key_id: key.id, name: 'R', description: null }).execute();
    await db().insertInto('templates').values({ id: 'ret-tpl-a1b2c3', key_id: key.id, name: 'R', subject: 'Hi', html: null, body_text: 'Hi' }).execute();
    const contacts = await db().insertInto('contacts').values([1, 2, 3].map((n) => ({ key_id: key.id, email: `reader${n}@rcpt.test`, name: `R${n}` }))).returning('id').execute();
    await db().insertInto('list_members').values(contacts.map((c) => ({ list_id: 'ret-list-a1b2c3', contact_id: c.id }))).execute();
    const created = await h.call({ method: 'POST', url: '/v1/bulk/campaigns', headers: json, auth: key.secret, payload: { name: 'R', list_id: 'ret-list-a1b2c3', template_id: 'ret-tpl-a1b2c3', from_email: 'news@alice.test' } });
    campaignId = created.json().id;
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${campaignId}/send`, auth: key.secret })).statusCode, 200);
    for (let round = 0; round < 5; round++) await h.workers.drain();
    const opened = await db().selectFrom('messages').select('id').where('campaign_id', '=', campaignId).where('to_email', '=', 'reader1@rcpt.test').executeTakeFirstOrThrow();
    const links = h.context.services.links;
    await links.ready();
    assert.equal((await h.call({ method: 'GET', url: links.openPixelUrl(opened.id).replace(h.config.publicUrl, ''), auth: null })).statusCode, 200);
  });
  after(async () => {
    await h.close();
    await sink.close();
    await dns.close();
  });

  it('counts every outcome in the aggregates, per key, channel and campaign', async () => {
    const { hourly, bulk, campaign } = await figures();
    assert.deepEqual(hourly.totals, { sent: 4, delivered: 0, bounced: 1, complained: 0, opened: 1, clicked: 0, unsubscribed: 0, failed: 0 });
    assert.equal(hourly.series.length, 48);
    assert.equal(hourly.series.reduce((n: number, p: { sent: number }) => n + p.sent, 0), 4);
    assert.ok(hourly.series.every((p: { start: string }) => new Date(p.start).getUTCMinutes() === 0));
    assert.equal(bulk.channel, 'bulk');
    assert.equal(bulk.totals.sent, 3);
    assert.equal(bulk.totals.opened, 1);
    assert.deepEqual(
      [campaign.recipients, campaign.sent, campaign.opened, campaign.pending, campaign.bounced, campaign.status],
      [3, 3, 1, 0, 0, 'sent'],
    );
    // Another key sees nothing of alice's; an admin sees all, or one key.
    const bob = await h.newKey('bob', ['bob.test']);
    assert.equal((await get('/v1/stats', bob.secret)).body.totals.sent, 0);
    assert.equal((await get(`/v1/stats?key_id=${key.id}`, bob.secret)).status, 403);
    const admin = await h.call({ method: 'GET', url: `/v1/stats?key_id=${key.id}&interval=hour` });
    assert.equal(admin.json().totals.sent, 4);
    for (const url of ['/v1/batches/batch_nope/stats', '/v1/bulk/sequences/nope-a1b2c3/stats']) {
      const missing = await get(url);
      assert.deepEqual([missing.status, missing.body.errors?.[0]?.code], [404, 'not_found'], url);
    }
    const sequence = await h.call({ method: 'POST', url: '/v1/bulk/sequences', headers: json, auth: key.secret, payload: { name: 'Stats seq' } });
    const sequenceStats = await get(`/v1/bulk/sequences/${sequence.json().id}/stats`);
    assert.deepEqual([sequence.statusCode, sequenceStats.status, sequenceStats.body.sent], [201, 200, 0]);
    const everyone = await h.call({ method: 'GET', url: '/v1/stats?interval=hour' });
    assert.equal(everyone.json().totals.sent, 4);
  });

  it('refuses a backwards or too long range with a clear code', async () => {
    const backwards = await get('/v1/stats?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    assert.deepEqual([backwards.status, backwards.body.errors?.[0]?.code], [400, 'invalid_range']);
    const tooLong = await get('/v1/stats?interval=hour&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body.errors?.[0]?.code, /range_too_large/);
  });

  it("the upgrade's backfill reads the same totals from the log as the live counting made", async () => {
    const live = await figures();
    await db().deleteFrom('stat_counts').execute();
    await backfill(db());
    const filled = await figures();
    // Totals only: a backfilled event counts in its message's hour, not its own.
    assert.deepEqual([filled.hourly.totals, filled.bulk.totals, filled.campaign], [live.hourly.totals, live.bulk.totals, live.campaign]);
    const deferred = await db().selectFrom('stat_counts').select((eb) => eb.fn.sum<number>('deferred').as('n')).where('scope', '=', 'key').executeTakeFirstOrThrow();
    assert.equal(Number(deferred.n), 1);
  });

  it('strips old bodies, then removes the log past retention, keeping what is in flight and every figure', async () => {
    const beforeRetention = await figures();
    const inFlight = await db().selectFrom('messages').select(['id', 'content_id']).where('status', '=', 'deferred').executeTakeFirstOrThrow();
    const now = Date.now();
    // Old rows of the other tables, and recent or pending ones that stay.
    const old = new Date(now - 40 * DAY);
    await db().insertInto('events').values([
      { id: 'evt_old', key_id: key.id, type: 'message.sent', at: old, data: '{}' },
      { id: 'evt_new', key_id: key.id, type: 'message.sent', at: new Date(now + 20 * DAY), data: '{}' },
    ]).execute();
    await db().insertInto('inbound_reports').values([
      { id: 'in_old', received_at: old, rcpt_to: 'b@x', size: 1, raw: new Uint8Array([1]), status: 'processed' },
      { id: 'in_pending', received_at: old, rcpt_to: 'b@x', size: 1, raw: new Uint8Array([1]), status: 'pending' },
    ] as never).execute();
    await db().insertInto('contact_imports').values([
      { id: 'imp_old', key_id: key.id, status: 'completed', content_type: 'text/csv', finished_at: old },
      { id: 'imp_failed', key_id: key.id, status: 'failed', content_type: 'text/csv', finished_at: old },
      { id: 'imp_queued', key_id: key.id, status: 'queued', content_type: 'text/csv', created_at: old, due_at: old },
    ] as never).execute();

    // Day 10, content kept 7 days: bodies of finished mail go, the rows and the deferred one's body stay.
    await retire(new Date(now + 10 * DAY), { retentionDays: 30, contentRetentionDays: 7 });
    const contents = await db().selectFrom('message_contents').select(['id', 'text', 'body_removed_at']).execute();
    assert.equal(await count('messages'), 6);
    assert.equal(contents.find((c) => c.id === inFlight.content_id)?.text, 'Hi');
    const campaignContent = (await db().selectFrom('campaigns').select('content_id').where('id', '=', campaignId).executeTakeFirstOrThrow()).content_id;
    const others = contents.filter((c) => c.id !== inFlight.content_id && c.id !== campaignContent);
    assert.equal(others.length, 2);
    assert.ok(others.every((c) => c.text === null && c.body_removed_at !== null));

    // Day 31: everything final is gone, with its events; the message still in flight stays.
    const removed = await retire(new Date(now + 31 * DAY));
    assert.ok(removed > 0);
    assert.deepEqual((await db().selectFrom('messages').select('id').execute()).map((m) => m.id), [inFlight.id]);
    assert.deepEqual((await db().selectFrom('message_contents').select('id').orderBy('id').execute()).map((c) => c.id), [inFlight.content_id, campaignContent].sort());
    const events = await db().selectFrom('message_events').select('message_id').execute();
    assert.ok(events.every((e) => e.message_id === inFlight.id));
    assert.deepEqual((await db().selectFrom('events').select('id').where('id', 'in', ['evt_old', 'evt_new']).execute()).map((e) => e.id), ['evt_new']);
    assert.deepEqual((await db().selectFrom('inbound_reports').select('id').execute()).map((r) => r.id), ['in_pending']);
    // Finished import jobs go; one still waiting for a worker stays, whatever its age.
    assert.deepEqual((await db().selectFrom('contact_imports').select('id').execute()).map((r) => r.id), ['imp_queued']);
    // The statistics read the same as before.
    assert.deepEqual(await figures(), beforeRetention);
    // Nothing more to do, and a second holder waits for the lease.
    assert.equal(await retire(new Date(now + 31 * DAY)), 0);
  });

  const count = async (table: 'messages') => Number((await db().selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
});
