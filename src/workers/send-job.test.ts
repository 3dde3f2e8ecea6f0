import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, it } from 'node:test';
import { sql } from 'kysely';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import pino from 'pino';
import { startDnsServer, type TestDnsServer } from '../../test/support/dns-server.ts';
import { describeEachEngine } from '../../test/support/engines.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { queueTestMessages } from '../../test/support/outgoing.ts';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp-sink.ts';
import { createSigningPool, type SigningPool } from '../delivery/dkim-pool.ts';
import { createSmtpTransport } from '../delivery/smtp/transport.ts';
import { newId } from '../lib/ids.ts';
import { attachmentParts, insertAccepted } from '../modules/send/repo.ts';
import { createSendJob, type SendJobOptions } from './send-job.ts';

describeEachEngine('send job', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let pool: SigningPool;
  let key: { id: string; secret: string };
  let sink: SmtpSink;
  let clock: Date;
  let refuse: Map<string, { code: number; message: string }>;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    h = await startHarness(engine);
    dns = await startDnsServer({});
    pool = createSigningPool(2);
    key = await h.newKey('sender', ['example.test']);
    const row = await h.database.db.selectFrom('domains').selectAll().where('domain', '=', 'example.test').executeTakeFirstOrThrow();
    dns.zone[`${row.dkim_selector}._domainkey.example.test`] = [{ type: 'TXT', data: `v=DKIM1; k=rsa; p=${row.dkim_public_key}` }];
  });
  after(async () => {
    // Clients before the servers they talk to.
    for (const close of closers.reverse()) await close();
    await pool.close();
    await dns.close();
    await h.close();
  });
  beforeEach(async () => {
    refuse = new Map();
    sink = await startSmtpSink({ onRecipient: (a) => refuse.get(a.toLowerCase()) ?? null });
    closers.push(() => sink.close());
    clock = new Date();
    await sql`delete from message_events`.execute(h.database.db);
    await sql`delete from messages`.execute(h.database.db);
    await sql`delete from suppressions`.execute(h.database.db);
  });

  function job(overrides: Partial<SendJobOptions> = {}) {
    const transport = createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 4 });
    closers.push(() => transport.close());
    return createSendJob({
      db: h.database.db,
      transport,
      logger: pino({ level: 'silent' }),
      hostname: 'mta.test',
      bounceDomain: 'bounce.test',
      signingKeyFor: (k, from) => h.context.services.domains.signingKeyFor(k, from),
      signer: pool.sign,
      bulkRate: 0,
      bulkConcurrency: 4,
      now: () => clock,
      random: () => 0.5,
      ...overrides,
    });
  }

  async function runAll(j: { runOnce(): Promise<number> }): Promise<number> {
    let total = 0;
    for (let i = 0; i < 50; i++) {
      const n = await j.runOnce();
      if (n === 0) return total;
      total += n;
    }
    throw new Error('still due after 50 rounds');
  }

  const message = (id: string) => h.database.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  // The timeline as the message log shows it (stored events and those derived from the row).
  const events = async (id: string) => (await h.context.services.messages.get({ keyId: key.id, name: 'sender', admin: true }, id)).events.map((e) => e.type);

  it('delivers one signed copy per recipient: headers, both parts, attachment, VERP return path', async () => {
    const { ids } = await queueTestMessages(
      h.database.db,
      {
        keyId: key.id,
        from_email: 'news@example.test',
        from_name: 'Example News',
        subject: 'Your receipt',
        html: '<p>Thanks for your order, -name-.</p>',
        text: 'Thanks for your order, -name-.',
        headers: { 'X-Order': '42' },
        attachments: [{ content: Buffer.from('%PDF-1.4 test').toString('base64'), filename: 'receipt.pdf', type: 'application/pdf', disposition: 'attachment' }],
      },
      [
        { email: 'ann@example.org', name: 'Ann', personalization: { substitutions: { '-name-': 'Ann' }, cc: [{ email: 'boss@example.org' }] } },
        { email: 'boss@example.org', personalization: { substitutions: { '-name-': 'Ann' }, to: [{ email: 'ann@example.org', name: 'Ann' }], cc: [{ email: 'boss@example.org' }] } },
        { email: 'carl@example.org', personalization: { substitutions: { '-name-': 'Carl' } } },
      ],
    );
    assert.equal(await runAll(job()), 3);
    assert.equal(sink.received.length, 3);
    const resolver = new Resolver();
    resolver.setServers([dns.address]);
    for (const [i, id] of ids.entries()) {
      const address = ['ann@example.org', 'boss@example.org', 'carl@example.org'][i]!;
      assert.equal(sink.countFor(address), 1);
      const mail = sink.received.find((m) => m.to[0] === address)!;
      assert.deepEqual(mail.to, [address]);
      assert.equal(mail.from, `b-${id}@bounce.test`);
      const verified = await dkimVerify(mail.raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') as Promise<string[][]> });
      assert.equal(verified.results[0]?.status.result, 'pass', JSON.stringify(verified.results[0]?.status));
      assert.equal(verified.results[0]?.signingDomain, 'example.test');
      const parsed = await simpleParser(mail.raw);
      assert.equal(parsed.subject, 'Your receipt');
      assert.equal(parsed.messageId, `<${id}@mta.test>`);
      assert.ok(parsed.date instanceof Date);
      assert.equal(parsed.headers.get('x-order'), '42');
      assert.equal(parsed.headers.get('x-md-channel'), 'trans');
      assert.match(parsed.text!, new RegExp(`Thanks for your order, ${i === 2 ? 'Carl' : 'Ann'}\\.`));
      assert.match(parsed.html as string, /<p>Thanks for your order/);
      assert.equal(parsed.attachments[0]?.filename, 'receipt.pdf');
      assert.equal(parsed.attachments[0]?.content.toString(), '%PDF-1.4 test');
      const row = await message(id);
      assert.equal(row.status, 'sent');
      assert.match(row.last_response!, /^250 /);
      assert.ok(row.sent_at);
      assert.deepEqual(await events(id), ['queued', 'sent']);
    }
    const boss = await simpleParser(sink.received.find((m) => m.to[0] === 'boss@example.org')!.raw);
    assert.equal((boss.to as any).value[0].address, 'ann@example.org', 'the visible To comes from the personalization');
    assert.equal((boss.cc as any).value[0].address, 'boss@example.org');
  });

  it('sends attachments stored as bytes, read in pieces, byte for byte and signed, to each recipient', async () => {
    const { contentId, ids } = await queueTestMessages(
      h.database.db,
      { keyId: key.id, from_email: 'news@example.test', subject: 'Files', html: '<p>Hi -name-</p><img src="cid:logo">' },
      ['ann@example.org', 'carl@example.org'].map((email) => ({ email, personalization: { substitutions: { '-name-': email } } })),
    );
    // Over two read pieces and not a whole number of base64 lines, so the last piece is a short one.
    const report = Buffer.alloc(2_000_003, 0);
    for (let i = 0; i < report.length; i++) report[i] = (i * 7919) & 0xff;
    await insertAccepted(h.database.db, [
      {
        content: { id: newId('mc'), key_id: key.id, from_email: 'unused@example.test', subject: 'unused', reply_to: 'null' },
        messages: [],
        attachments: [
          { content_id: contentId, key_id: key.id, seq: 0, filename: 'report.bin', type: 'application/octet-stream', disposition: 'attachment', cid: null, parts: attachmentParts(report) },
          { content_id: contentId, key_id: key.id, seq: 1, filename: 'logo.png', type: 'image/png', disposition: 'inline', cid: 'logo', parts: [Buffer.from('png')] },
        ],
      },
    ]);
    assert.equal((await h.database.db.selectFrom('message_attachments').select('part').where('content_id', '=', contentId).execute()).length, 4, 'the report in three parts');
    assert.equal(await runAll(job()), 2);
    const resolver = new Resolver();
    resolver.setServers([dns.address]);
    for (const id of ids) {
      const mail = sink.received.find((m) => m.raw.includes(`<${id}@mta.test>`))!;
      const verified = await dkimVerify(mail.raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') as Promise<string[][]> });
      assert.equal(verified.results[0]?.status.result, 'pass', JSON.stringify(verified.results[0]?.status));
      const parsed = await simpleParser(mail.raw);
      assert.match(parsed.html as string, new RegExp(`Hi ${mail.to[0]}`));
      assert.deepEqual(parsed.attachments.map((a) => [a.filename, a.contentType, a.contentDisposition, a.cid ?? null]), [
        ['report.bin', 'application/octet-stream', 'attachment', null],
        ['logo.png', 'image/png', 'inline', 'logo'],
      ]);
      assert.ok(parsed.attachments[0]!.content.equals(report), 'the stored bytes, unchanged');
      assert.equal(parsed.attachments[1]!.content.toString(), 'png');
    }
  });

  it('defers on 4xx with backoff, then sends when the retry is due', async () => {
    refuse.set('slow@example.org', { code: 451, message: 'greylisted' });
    const { ids } = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'slow@example.org' }]);
    const j = job();
    assert.equal(await j.runOnce(), 1);
    let row = await message(ids[0]!);
    assert.equal(row.status, 'deferred');
    assert.match(row.last_response!, /^451 /);
    assert.equal(row.due_at.getTime() - clock.getTime(), 60_000);
    assert.equal(await j.runOnce(), 0, 'not due before the retry time');
    refuse.clear();
    clock = new Date(clock.getTime() + 61_000);
    assert.equal(await j.runOnce(), 1);
    row = await message(ids[0]!);
    assert.equal(row.status, 'sent');
    assert.equal(row.attempts, 2);
    assert.deepEqual(await events(ids[0]!), ['queued', 'deferred', 'sent']);
    assert.equal(sink.countFor('slow@example.org'), 1);
  });

  it('fails a message still deferred 24 hours after its first attempt', async () => {
    refuse.set('never@example.org', { code: 421, message: 'busy' });
    const { ids } = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'never@example.org' }]);
    const j = job();
    const start = clock.getTime();
    for (let i = 0; i < 60; i++) {
      await j.runOnce();
      const row = await message(ids[0]!);
      if (row.status !== 'deferred') break;
      clock = new Date(row.due_at.getTime() + 1);
    }
    const row = await message(ids[0]!);
    assert.equal(row.status, 'failed');
    assert.ok(clock.getTime() - start >= 24 * 3600_000);
    assert.equal((await events(ids[0]!)).at(-1), 'failed');
  });

  it('bounces on 5xx and suppresses the address; later mail to it is dropped', async () => {
    refuse.set('gone@example.org', { code: 550, message: 'no such user' });
    const first = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'Gone@example.org' }]);
    await runAll(job());
    const row = await message(first.ids[0]!);
    assert.equal(row.status, 'bounced');
    assert.match(row.last_response!, /^550 /);
    assert.deepEqual(await events(first.ids[0]!), ['queued', 'bounced']);
    const suppression = await h.database.db.selectFrom('suppressions').selectAll().where('key_id', '=', key.id).executeTakeFirstOrThrow();
    assert.deepEqual([suppression.email, suppression.reason, suppression.source_type, suppression.source_id], ['gone@example.org', 'bounce', 'message', first.ids[0]]);
    refuse.clear();
    const second = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'gone@example.org' }]);
    await runAll(job());
    assert.equal((await message(second.ids[0]!)).status, 'dropped');
    assert.deepEqual(await events(second.ids[0]!), ['queued', 'dropped']);
    assert.equal(sink.received.length, 0);
  });

  it('an unsubscribed address still gets transactional mail but no bulk mail; sandbox mail is never sent', async () => {
    await h.database.db.insertInto('suppressions').values({ key_id: key.id, email: 'unsub@example.org', reason: 'unsubscribe', source_type: 'api', source_id: null, detail: null }).execute();
    const trans = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'unsub@example.org' }]);
    const bulk = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'unsub@example.org', channel: 'bulk' }]);
    const sandbox = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test', settings: { sandbox: true } }, [{ email: 'sand@example.org' }]);
    await runAll(job());
    assert.equal((await message(trans.ids[0]!)).status, 'sent');
    assert.equal((await message(bulk.ids[0]!)).status, 'dropped');
    assert.equal((await message(sandbox.ids[0]!)).status, 'dropped');
    assert.deepEqual(sink.received.map((m) => m.to[0]), ['unsub@example.org']);
  });

  it('claims transactional mail before older bulk mail', async () => {
    const past = new Date(clock.getTime() - 60_000);
    await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [1, 2, 3].map((n) => ({ email: `bulk${n}@example.org`, channel: 'bulk' as const, dueAt: past })));
    await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'reset1@example.org' }, { email: 'reset2@example.org' }]);
    const j = job({ batchSize: 2 });
    assert.equal(await j.runOnce(), 2);
    assert.deepEqual(sink.received.map((m) => m.to[0]).sort(), ['reset1@example.org', 'reset2@example.org']);
    await runAll(j);
    assert.equal(sink.received.length, 5);
  });

  it('records every outcome of a large round (outcomes are written in groups while it runs)', async () => {
    const count = 700;
    await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, Array.from({ length: count }, (_, n) => ({ email: `many${n}@example.org`, channel: 'bulk' as const })));
    assert.equal(await job({ batchSize: 1000, bulkConcurrency: 16 }).runOnce(), count);
    const { rows } = await sql<{ status: string; n: number }>`select status, count(*)::int as n from messages group by status`.execute(h.database.db);
    assert.deepEqual(rows, [{ status: 'sent', n: count }]);
    const recorded = await sql<{ n: number }>`select count(*)::int as n from messages where sent_at is not null and last_response like '250%'`.execute(h.database.db);
    assert.equal(recorded.rows[0]!.n, count);
    assert.equal(sink.received.length, count);
  });

  it('honours the bulk rate: a round claims no more bulk mail than the bucket holds', async () => {
    await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [1, 2, 3, 4, 5].map((n) => ({ email: `b${n}@example.org`, channel: 'bulk' as const })));
    const j = job({ bulkRate: 2 });
    assert.equal(await j.runOnce(), 2);
    assert.equal(await j.runOnce(), 0, 'the bucket is empty until time passes');
    clock = new Date(clock.getTime() + 1000);
    assert.equal(await j.runOnce(), 2);
  });

  it('fails closed when the suppression check cannot be made', async () => {
    const { ids } = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'careful@example.org' }]);
    await sql`alter table suppressions rename to suppressions_away`.execute(h.database.db);
    try {
      assert.equal(await job().runOnce(), 1);
    } finally {
      await sql`alter table suppressions_away rename to suppressions`.execute(h.database.db);
    }
    let row = await message(ids[0]!);
    assert.equal(row.status, 'queued');
    assert.equal(row.attempts, 0);
    assert.equal(sink.received.length, 0);
    clock = new Date(clock.getTime() + 31_000);
    await runAll(job());
    row = await message(ids[0]!);
    assert.equal(row.status, 'sent');
  });

  it('takes over a message whose lease lapsed, and releases unstarted work on stop', async () => {
    const { ids } = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [{ email: 'orphan@example.org' }]);
    await h.database.db.updateTable('messages').set({ status: 'sending', lease_until: new Date(clock.getTime() + 60_000), attempts: 1 }).where('id', '=', ids[0]!).execute();
    const j = job();
    assert.equal(await j.runOnce(), 0, 'a live lease is respected');
    clock = new Date(clock.getTime() + 61_000);
    assert.equal(await j.runOnce(), 1);
    assert.equal((await message(ids[0]!)).status, 'sent');

    const more = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, [1, 2, 3].map((n) => ({ email: `later${n}@example.org` })));
    const stopping = job();
    stopping.stop();
    await h.database.db.updateTable('messages').set({ status: 'sending', attempts: 1, lease_until: clock }).where('id', 'in', more.ids).execute();
    assert.equal(await stopping.runOnce(), 0, 'a stopped job claims nothing');
  });

  it('a stop during a round finishes the sends in flight and gives the rest back', async () => {
    const slow = await startSmtpSink({ dataDelayMs: 100 });
    closers.push(() => slow.close());
    const transport = createSmtpTransport({ url: slow.url(), clientName: 'mta.test', maxConnections: 1 });
    closers.push(() => transport.close());
    const { ids } = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'news@example.test' }, Array.from({ length: 6 }, (_, n) => ({ email: `s${n}@example.org` })));
    const j = job({ transport, transConcurrency: 1 });
    const round = j.runOnce();
    await slow.waitFor(1);
    j.stop();
    assert.equal(await round, 6);
    const rows = await h.database.db.selectFrom('messages').select(['id', 'status', 'attempts', 'lease_until']).where('id', 'in', ids).execute();
    const sent = rows.filter((r) => r.status === 'sent');
    const released = rows.filter((r) => r.status === 'queued');
    assert.ok(sent.length >= 1 && sent.length < 6, `sent ${sent.length}`);
    assert.equal(sent.length + released.length, 6);
    assert.ok(released.every((r) => r.attempts === 0 && r.lease_until === null));
    assert.equal(slow.received.length, sent.length);
  });
});

describeEachEngine('send job wiring', (engine) => {
  it('is registered in the composition and writes to the outbox when no relay is configured', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'md-data-'));
    const h = await startHarness(engine, { MAILERDASH_DATA_DIR: dir, MAILERDASH_BOUNCE_DOMAIN: 'bounce.test' });
    try {
      const key = await h.newKey('outbox', ['example.test']);
      const { ids } = await queueTestMessages(h.database.db, { keyId: key.id, from_email: 'hi@example.test', subject: 'Outbox' }, [{ email: 'r@example.org' }]);
      await h.workers.drain();
      const files = await readdir(path.join(dir, 'outbox'));
      assert.deepEqual(files, [`${ids[0]}.eml`]);
      const eml = await readFile(path.join(dir, 'outbox', files[0]!));
      // The signed VERP return path: the message id and its MAC.
      assert.match(eml.toString(), new RegExp(`^Return-Path: <b-${ids[0]}\\.[0-9a-f]{24}@bounce\\.test>`));
      assert.match(eml.toString(), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/m);
      const parsed = await simpleParser(eml);
      assert.equal(parsed.subject, 'Outbox');
    } finally {
      await h.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
