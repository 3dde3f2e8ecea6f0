import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import nodemailer from 'nodemailer';
import pino from 'pino';
import type { DB } from '../../db/schema.ts';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { makeCertificate } from '../../../test/support/tls-cert.ts';
import { createResolver } from '../../lib/dns.ts';
import { createMxChecker } from '../../lib/mx-checker.ts';
import type { Principal } from '../keys/service.ts';
import { SEND_ZONE, clone } from '../send/test-fixtures.ts';
import { startSubmissionListener, type SubmissionListener } from '../submission/listener.ts';
import { createSubmissionService } from '../submission/service.ts';
import { createErasedAddressHasher, erasedHashOf } from '../suppressions/erased.ts';
import { findSuppressions } from '../suppressions/repo.ts';

const ADDRESS = 'Erin.Erased+vip@example.com';
const NEEDLE = ADDRESS.toLowerCase();
const json = { 'content-type': 'application/json' };

/**
 * Tables without a key_id column and how their rows belong to a key. Every other table is searched
 * whole (a new table that holds addresses without a key is then caught).
 */
const OWNER_OF: Record<string, (keyId: string) => string> = {
  message_events: (k) => `message_id in (select id from messages where key_id = '${k}')`,
  list_members: (k) => `list_id in (select id from lists where key_id = '${k}')`,
  batch_recipients: (k) => `batch_id in (select id from batches where key_id = '${k}')`,
  batch_decisions: (k) => `batch_id in (select id from batches where key_id = '${k}')`,
  batch_progress: (k) => `batch_id in (select id from batches where key_id = '${k}')`,
  provider_event_receipts: (k) => `provider_id in (select id from providers where key_id = '${k}')`,
};

/** Every row of every text, character, JSON, array or bytea column that holds the address ("table.column": rows). */
async function findAddress(db: Kysely<DB>, needle: string, keyId?: string): Promise<Record<string, number>> {
  const { rows: columns } = await sql<{ table_name: string; column_name: string; data_type: string }>`
    select c.table_name, c.column_name, c.data_type from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
    where c.table_schema = current_schema() and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')
    order by c.table_name, c.column_name`.execute(db);
  const { rows: keyed } = await sql<{ table_name: string }>`select table_name from information_schema.columns where table_schema = current_schema() and column_name = 'key_id'`.execute(db);
  const hasKey = new Set(keyed.map((r) => r.table_name));
  const hits: Record<string, number> = {};
  const tables = [...new Set(columns.map((c) => c.table_name))];
  // One statement per table, one count per column.
  for (const table of tables) {
    const own = columns.filter((c) => c.table_name === table);
    const counts = own.map((c, i) => {
      const value = c.data_type === 'bytea' ? `encode("${c.column_name}", 'escape')` : `"${c.column_name}"::text`;
      return `count(*) filter (where position('${needle}' in lower(${value})) > 0)::int as c${i}`;
    });
    let where = 'true';
    if (keyId !== undefined && hasKey.has(table)) where = `key_id = '${keyId}'`;
    else if (keyId !== undefined && OWNER_OF[table]) where = OWNER_OF[table]!(keyId);
    const { rows } = await sql<Record<string, number>>`select ${sql.raw(counts.join(', '))} from ${sql.table(table)} where ${sql.raw(where)}`.execute(db);
    own.forEach((c, i) => {
      const n = Number(rows[0]![`c${i}`]);
      if (n) hits[`${table}.${c.column_name}`] = n;
    });
  }
  return hits;
}

describeEachEngine('privacy: erasure and export of an address', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let listener: SubmissionListener;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };
  let carol: { id: string; secret: string };
  let db: Kysely<DB>;
  const principal = (key: { id: string }): Principal => ({ keyId: key.id, name: 'test', admin: false });

  const send = async (auth: string, to: string[], extra: Record<string, unknown> = {}) => {
    const payload = {
      personalizations: [{ to: to.map((email) => ({ email, name: 'Erin' })) }],
      from: { email: 'no-reply@tu-dominio.com' },
      subject: `Para ${ADDRESS}`,
      content: [{ type: 'text/plain', value: `Hola, tu cuenta es ${ADDRESS}.` }],
      ...extra,
    };
    const res = await h.call({ method: 'POST', url: '/v1/mail/send', payload, headers: { 'idempotency-key': `k-${Math.random()}` }, auth });
    assert.equal(res.statusCode, 202, res.body);
    return res.headers['x-message-id'] as string;
  };
  const submit = (secret: string, to: string) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port: listener.port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'apikey', pass: secret } })
      .sendMail({ from: 'app@tu-dominio.com', to, subject: 'Submitted', text: `Your login is ${to}` });
  const statusesTo = async (keyId: string, email: string) =>
    (await db.selectFrom('messages').select('status').where('key_id', '=', keyId).where(sql<boolean>`lower(to_email) = ${email.toLowerCase()}`).orderBy('created_at').execute()).map((m) => m.status);
  const erase = (payload: unknown, auth?: string) => h.call({ method: 'POST', url: '/v1/privacy/erase', headers: json, payload: JSON.stringify(payload), ...(auth === undefined ? {} : { auth }) });

  /** Data about ADDRESS in every part of the product, for a key (through the API and the pipeline where it is cheap). */
  async function seed(key: { id: string; secret: string }) {
    const p = principal(key);
    const services = h.context.services;
    const created = await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: json, payload: { email: ADDRESS, name: 'Erin Erased', metadata: { city: 'Lyon', backup: NEEDLE } }, auth: key.secret });
    assert.ok([200, 201].includes(created.statusCode), created.body);
    const list = await services.lists.create(p, { name: `News ${key.id}` });
    await services.lists.addMembers(p, list.id, [{ email: ADDRESS }]);
    const sequence = await services.sequences.create(p, { name: `Onboarding ${key.id}` });
    await services.sequences.addStep(p, sequence.id, { position: 1, offset_seconds: 3600, subject: 'Hi {{email}}', body_text: 'Hello', from_email: 'news@tu-dominio.com' });
    await services.sequences.update(p, sequence.id, { status: 'active' });
    await services.sequences.subscribe(p, sequence.id, { email: ADDRESS, variables: { referrer: NEEDLE } });
    const requestId = await send(key.secret, [ADDRESS, 'other@example.com']);
    await submit(key.secret, ADDRESS);
    await h.workers.drain();
    const [message] = await db.selectFrom('messages').select('id').where('request_id', '=', requestId).where('to_email', '=', ADDRESS).execute();
    // What tracking, inbound feedback and webhooks record for that message.
    await db.insertInto('message_events').values({ message_id: message!.id, type: 'opened', data: JSON.stringify({ user_agent: 'Mail/1.0', ip: '198.51.100.7' }) }).execute();
    await db.insertInto('soft_bounces').values({ message_id: message!.id, key_id: key.id, email: NEEDLE, at: new Date(), reason: 'mailbox_full' }).execute();
    await services.suppressions.suppress({ keyId: key.id, email: ADDRESS, reason: 'bounce', sourceType: 'message', sourceId: message!.id, detail: `550 5.1.1 <${ADDRESS}> unknown` });
    await db
      .insertInto('inbound_reports')
      .values({
        id: `inr_${key.id}`,
        rcpt_to: `b-${message!.id}@bounce.test`,
        mail_from: '',
        size: 100,
        raw: Buffer.concat([Buffer.from(`Final-Recipient: rfc822; ${ADDRESS}\r\n`), Buffer.from([0xff, 0x00, 0x5c]), Buffer.from(`\r\nTo: ${NEEDLE}\r\n`)]),
        key_id: key.id,
        message_id: message!.id,
        status: 'processed',
        result: JSON.stringify({ recipient: NEEDLE }),
      })
      .execute();
    await db
      .insertInto('webhooks')
      .values({ id: `wh_${key.id}`, key_id: key.id, url: 'https://hooks.example/x', description: null, secret_sealed: 'sealed', events: ['*'] })
      .execute();
    await db
      .insertInto('contact_imports')
      .values({ id: `imp_${key.id}`, key_id: key.id, status: 'completed', content_type: 'text/csv', result: JSON.stringify({ errors: [{ index: 2, email: NEEDLE, code: 'duplicate' }] }) } as never)
      .execute();
    await db.insertInto('contact_import_chunks').values({ import_id: `imp_${key.id}`, key_id: key.id, seq: 0, data: Buffer.from(`email\n${NEEDLE}\n`) }).execute();
    await db.insertInto('events').values({ id: `evt_${key.id}`, key_id: key.id, type: 'message.bounced', at: new Date(), data: JSON.stringify({ message_id: message!.id, email: NEEDLE }) }).execute();
    const [{ seq }] = (await db.selectFrom('events').select('seq').where('id', '=', `evt_${key.id}`).execute()) as [{ seq: string }];
    // The event's delivery is made with it (fan-out at emit); its last attempt's answer quoted the address, and it
    // failed for good (so the running delivery worker leaves it as it is).
    const answered = await db
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', last_status: 400, last_body: `unknown user ${ADDRESS}` })
      .where('endpoint_id', '=', `wh_${key.id}`)
      .where('event_seq', '=', seq)
      .executeTakeFirst();
    assert.equal(Number(answered.numUpdatedRows), 1);
    const batch = await h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: json,
      payload: JSON.stringify({ from: { email: 'news@tu-dominio.com' }, subject: 'Batch', content: [{ type: 'text/plain', value: 'Hi {{name}}' }], recipients: [{ email: ADDRESS, name: 'Erin', variables: { alt: NEEDLE } }, { email: 'beto@example.com' }] }),
      auth: key.secret,
    });
    assert.equal(batch.statusCode, 202, batch.body);
    // A message still waiting for the address (a later send), and one a sender holds right now.
    await send(key.secret, [ADDRESS], { send_at: Math.floor(Date.now() / 1000) + 3600 });
    const holding = await send(key.secret, [ADDRESS]);
    await db.updateTable('messages').set({ status: 'sending', lease_until: new Date(Date.now() + 60_000), attempts: 1 }).where('request_id', '=', holding).execute();
    return { holding };
  }

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SECRET: 'privacy-test-secret-0123456789abcdef' });
    db = h.database.db;
    alice = await h.newKey('alice', ['tu-dominio.com']);
    bob = await h.newKey('bob', ['tu-dominio.com']);
    carol = await h.newKey('carol', ['tu-dominio.com']);
    const services = h.context.services;
    listener = await startSubmissionListener({
      service: createSubmissionService({ db, keys: services.keys, domains: services.domains, mx: createMxChecker({ resolver: createResolver([dns.address], 300) }), ratePerMinute: 0 }),
      logger: pino({ level: 'silent' }),
      hostname: 'submission.test',
      port: 0,
      host: '127.0.0.1',
      sizeLimit: 100_000,
      tls: makeCertificate('submission.test'),
    });
  });
  after(async () => {
    await listener.close();
    await h.close();
    await dns.close();
  });

  // The hash itself, on its own keys (a fixed secret), before the product's data exists.
  const hasher = createErasedAddressHasher(async () => 'server-secret');
  it('the erased hash is HMAC-SHA256 of the lower-cased address under a salt of its own per key, the same in SQL as in node', async () => {
    const salt = createHmac('sha256', 'server-secret').update('mailerdash erased-suppression salt v1\0key_a').digest();
    const expected = createHmac('sha256', salt).update('ana.b+x@example.com').digest('hex');
    assert.equal(await hasher.hash('key_a', 'Ana.B+x@Example.com'), expected);
    assert.notEqual(await hasher.hash('key_b', 'ana.b+x@example.com'), expected);
    await db.insertInto('api_keys').values([{ id: 'key_a', name: 'a', secret_hash: 'a' }, { id: 'key_b', name: 'b', secret_hash: 'b' }]).execute();
    const keys = await hasher.keysFor('key_a');
    const { rows } = await sql<{ h: string }>`select ${erasedHashOf(keys, sql`${'ANA.b+x@example.COM'}::text`)} as h`.execute(db);
    assert.equal(rows[0]!.h, expected);
  });

  it('findSuppressions answers an erased entry under the address asked for, for its own key only', async () => {
    await db.insertInto('erased_suppressions').values({ key_id: 'key_a', email_hash: await hasher.hash('key_a', 'gone@example.com'), reason: 'complaint', erased_at: new Date() }).execute();
    await db.insertInto('suppressions').values({ key_id: 'key_a', email: 'plain@example.com', reason: 'bounce', source_type: 'api' }).execute();
    const found = await findSuppressions(db, 'key_a', ['Gone@example.com', 'plain@example.com', 'kept@example.com'], await hasher.keysFor('key_a'));
    assert.deepEqual(found.map((r) => [r.email, r.reason, r.source_type]).sort(), [['gone@example.com', 'complaint', 'erasure'], ['plain@example.com', 'bounce', 'api']]);
    assert.deepEqual(await findSuppressions(db, 'key_b', ['gone@example.com'], await hasher.keysFor('key_b')), []);
    // Without the hash keys (a caller that does not know of erasures) only plain entries count.
    assert.deepEqual((await findSuppressions(db, 'key_a', ['gone@example.com'])).length, 0);
  });

  let holding: string;
  let bobBefore: Record<string, number>;

  it('erases the address from every table of the key, counts what it touched, and leaves another key alone', async () => {
    ({ holding } = await seed(alice));
    await seed(bob);
    const aliceBefore = await findAddress(db, NEEDLE, alice.id);
    for (const column of ['contacts.email', 'messages.to_email', 'message_contents.raw_mime', 'message_contents.text', 'sequence_subscribers.email', 'batch_recipients.email', 'events.data', 'webhook_deliveries.last_body', 'inbound_reports.raw', 'suppressions.email', 'suppression_log.email', 'contact_events.email', 'soft_bounces.email', 'contact_imports.result', 'contact_import_chunks.data']) {
      assert.ok(aliceBefore[column], `the seed put the address in ${column}: ${JSON.stringify(aliceBefore)}`);
    }
    bobBefore = await findAddress(db, NEEDLE, bob.id);

    const res = await erase({ email: `  ${ADDRESS.toUpperCase()} ` }, alice.secret);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.match(body.id, /^era_/);
    assert.equal(body.key_id, alice.id);
    assert.equal(body.tables.contacts, 1);
    assert.equal(body.tables.list_members, 1);
    assert.equal(body.tables.suppressions, 1);
    assert.equal(body.tables.erased_suppressions, 1);
    assert.equal(body.tables.soft_bounces, 1);
    assert.equal(body.tables.sequence_subscribers, 1);
    assert.equal(body.tables.messages_dropped, 1, 'the scheduled message is dropped');
    assert.ok(body.tables.messages >= 5, JSON.stringify(body.tables));
    assert.ok(body.tables.message_contents >= 2 && body.tables.inbound_reports === 1 && body.tables.webhook_deliveries === 1 && body.tables.events >= 1, JSON.stringify(body.tables));
    assert.ok(!res.body.toLowerCase().includes(NEEDLE));

    assert.deepEqual(await findAddress(db, NEEDLE, alice.id), {}, 'nothing of the key holds the address');
    assert.deepEqual(await findAddress(db, NEEDLE, bob.id), bobBefore, "bob's rows are untouched");
    // The subscription was cancelled through the address path before it was pseudonymised; the waiting message dropped.
    const subscriber = await db.selectFrom('sequence_subscribers').select(['status', 'cancel_reason', 'email']).where('key_id', '=', alice.id).executeTakeFirstOrThrow();
    assert.deepEqual(subscriber, { status: 'cancelled', cancel_reason: 'bounced', email: 'erased@erased.invalid' });
    // Bytes around the address in a raw report survive the replacement.
    const report = await db.selectFrom('inbound_reports').select('raw').where('id', '=', `inr_${alice.id}`).executeTakeFirstOrThrow();
    assert.ok(Buffer.from(report.raw).includes(Buffer.from([0xff, 0x00, 0x5c])));
    const audit = (await h.call({ method: 'GET', url: '/v1/audit', auth: alice.secret })).json();
    const entry = audit.data.find((e: { action: string }) => e.action === 'privacy.erased');
    assert.equal(entry.object_id, body.id);
    assert.deepEqual(entry.summary.tables, body.tables);
  });

  it('a message that was being sent when the address was erased is never retried', async () => {
    // Its sender defers it (a 4xx) after the erasure; the next claim drops it.
    await db.updateTable('messages').set({ status: 'deferred', lease_until: null, due_at: new Date(Date.now() - 1000) }).where('request_id', '=', holding).execute();
    await h.workers.drain();
    const row = await db.selectFrom('messages').select(['status', 'to_email']).where('request_id', '=', holding).executeTakeFirstOrThrow();
    assert.deepEqual(row, { status: 'dropped', to_email: 'erased@erased.invalid' });
  });

  it('the erased, suppressed address is still refused by a later send, submission, campaign, batch and sequence; another key still mails it', async () => {
    const p = principal(alice);
    const services = h.context.services;
    await send(alice.secret, [ADDRESS]);
    await submit(alice.secret, ADDRESS);
    await send(carol.secret, [ADDRESS]);
    await h.workers.drain();
    assert.deepEqual(await statusesTo(alice.id, ADDRESS), ['dropped', 'dropped'], 'send and submission');
    assert.deepEqual(await statusesTo(carol.id, ADDRESS), ['sent'], "another key's mail is not stopped by the hash (salted per key)");

    const list = await services.lists.create(p, { name: 'Again' });
    await services.lists.addMembers(p, list.id, [{ email: ADDRESS }, { email: 'ok@example.com' }]);
    const template = await services.templates.create(p, { name: 'T', subject: 'News', body_text: 'Hello {{name}}' });
    const campaign = await services.campaigns.create(p, { name: 'After', list_id: list.id, template_id: template.id, from_email: 'news@tu-dominio.com', tracking: false });
    await services.campaigns.act(p, campaign.id, 'send');
    await h.workers.drain();
    const stats = (await h.call({ method: 'GET', url: `/v1/bulk/campaigns/${campaign.id}/stats`, auth: alice.secret })).json();
    assert.equal(stats.skipped_suppressed, 1, JSON.stringify(stats));
    const campaignTo = await db.selectFrom('messages').select('to_email').where('campaign_id', '=', campaign.id).execute();
    assert.deepEqual(campaignTo.map((m) => m.to_email), ['ok@example.com']);

    const batch = await h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: json,
      payload: JSON.stringify({ from: { email: 'news@tu-dominio.com' }, subject: 'Batch', content: [{ type: 'text/plain', value: 'Hi' }], recipients: [{ email: ADDRESS }, { email: 'ok@example.com' }] }),
      auth: alice.secret,
    });
    assert.equal(batch.statusCode, 202, batch.body);
    assert.deepEqual(batch.json().rejections.map((r: { reason: string }) => r.reason), ['suppressed_bounce']);

    const sequence = await services.sequences.create(p, { name: 'Later' });
    const subscribed = await services.sequences.subscribe(p, sequence.id, { email: ADDRESS });
    assert.equal(subscribed.subscriber.status, 'cancelled');
  });

  it('exports everything a key holds about the address as JSON', async () => {
    const res = await h.call({ method: 'GET', url: `/v1/privacy/export?email=${encodeURIComponent(ADDRESS)}`, auth: bob.secret });
    assert.equal(res.statusCode, 200, res.body);
    const [key] = res.json().keys;
    assert.equal(key.key_id, bob.id);
    assert.equal(key.contact.name, 'Erin Erased');
    assert.equal(key.contact.lists.length, 1);
    assert.equal(key.suppression.reason, 'bounce');
    assert.equal(key.sequence_subscriptions.length, 1);
    assert.ok(key.messages.length >= 4 && key.messages.some((m: { events: unknown[] }) => m.events.length > 0));
    assert.equal(key.batch_recipients.length, 1);
    assert.equal(key.soft_bounces.length, 1);
    const admin = (await h.call({ method: 'GET', url: `/v1/privacy/export?email=${encodeURIComponent(ADDRESS)}&key_id=${bob.id}` })).json();
    assert.equal(admin.keys[0].key_id, bob.id);
  });

  it('bad input is a 4xx in the error envelope and changes nothing', async () => {
    const before = await findAddress(db, NEEDLE);
    const cases: [unknown, string | undefined, number][] = [
      [{ email: 'not an address' }, bob.secret, 400],
      [{}, bob.secret, 400],
      [{ email: ADDRESS, extra: 1 }, bob.secret, 400],
      [{ email: ADDRESS, key_id: alice.id }, bob.secret, 403],
      [{ email: ADDRESS, key_id: 'key_nobody' }, undefined, 404],
    ];
    for (const [payload, auth, status] of cases) {
      const res = await erase(payload, auth);
      assert.equal(res.statusCode, status, `${JSON.stringify(payload)}: ${res.body}`);
      assert.ok(Array.isArray(res.json().errors) && res.json().errors[0].code, res.body);
    }
    assert.equal((await h.call({ method: 'POST', url: '/v1/privacy/erase', headers: json, payload: '{"email":', auth: bob.secret })).statusCode, 400);
    assert.equal((await h.call({ method: 'POST', url: '/v1/privacy/erase', headers: json, payload: { email: ADDRESS }, auth: null })).statusCode, 401);
    assert.equal((await h.call({ method: 'GET', url: '/v1/privacy/export', auth: bob.secret })).statusCode, 400);
    assert.equal((await h.call({ method: 'GET', url: '/v1/privacy/export?email=nope', auth: bob.secret })).statusCode, 400);
    assert.deepEqual(await findAddress(db, NEEDLE), before);
  });

  it('an admin without key_id erases from every key, and unmatched inbound mail: the address is then in no table at all', async () => {
    await db
      .insertInto('inbound_reports')
      .values({ id: 'inr_unmatched', rcpt_to: 'postmaster@bounce.test', mail_from: ADDRESS, size: 10, raw: Buffer.from(`From: ${ADDRESS}\r\n\r\nauto-reply`), status: 'unmatched' })
      .execute();
    const res = await erase({ email: ADDRESS });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().key_id, null);
    assert.deepEqual(res.json().keys.map((k: { key_id: string }) => k.key_id).sort(), [alice.id, bob.id, carol.id].sort());
    assert.deepEqual(await findAddress(db, NEEDLE), {});
    // bob's bounce entry still refuses, now by its hash alone.
    await send(bob.secret, [ADDRESS], { subject: 'Again' });
    await h.workers.drain();
    assert.equal((await statusesTo(bob.id, ADDRESS)).at(-1), 'dropped');
    // The key may look the entry up, and take it off, by naming the address again.
    const entry = await h.call({ method: 'GET', url: `/v1/suppressions/${encodeURIComponent(ADDRESS)}`, auth: bob.secret });
    assert.equal(entry.statusCode, 200, entry.body);
    assert.deepEqual([entry.json().reason, entry.json().source_type], ['bounce', 'erasure']);
    assert.equal((await h.call({ method: 'DELETE', url: `/v1/suppressions/${encodeURIComponent(ADDRESS)}`, auth: bob.secret })).statusCode, 204);
    assert.equal((await h.call({ method: 'GET', url: `/v1/suppressions/${encodeURIComponent(ADDRESS)}`, auth: bob.secret })).statusCode, 404);
  });
});
