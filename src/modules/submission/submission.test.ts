import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import { Resolver } from 'node:dns/promises';
import { after, before, beforeEach, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { makeCertificate, type TestCertificate } from '../../../test/support/tls-cert.ts';
import { createResolver } from '../../lib/dns.ts';
import { createMxChecker } from '../../lib/mx-checker.ts';
import { SEND_ZONE } from '../send/test-fixtures.ts';
import { startSubmissionListener, type SubmissionListener } from './listener.ts';
import { createSubmissionService, type SubmissionServiceDeps } from './service.ts';

const PYTHON_CLIENT = fileURLToPath(new URL('../../../test/support/smtplib-client.py', import.meta.url));
const BODY_LIMIT = 200_000;

interface PythonResult {
  features: Record<string, string>;
  login: 'ok' | [number, string];
  mail?: [number, string];
  rcpt?: Array<[number, string]>;
  data?: [number, string];
}

function python(job: Record<string, unknown>): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', [PYTHON_CLIENT], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`smtplib client failed: ${stderr || error.message}`));
      resolve(JSON.parse(stdout) as PythonResult);
    });
    child.stdin!.end(JSON.stringify(job));
  });
}

describeEachEngine('SMTP submission relay', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let cert: TestCertificate;
  let listener: SubmissionListener;
  let key: { id: string; secret: string };
  const extra: SubmissionListener[] = [];

  before(async () => {
    dns = await startDnsServer({ ...SEND_ZONE, 'slow.example': 'silent' });
    sink = await startSmtpSink();
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url(), MAILERDASH_BODY_LIMIT: String(BODY_LIMIT) });
    cert = makeCertificate('submission.test');
    key = await h.newKey('app', ['example.test']);
    const row = await h.database.db.selectFrom('domains').selectAll().where('domain', '=', 'example.test').executeTakeFirstOrThrow();
    dns.zone[`${row.dkim_selector}._domainkey.example.test`] = [{ type: 'TXT', data: `v=DKIM1; k=rsa; p=${row.dkim_public_key}` }];
    listener = await listen();
  });
  after(async () => {
    for (const l of extra) await l.close();
    await listener.close();
    await h.close();
    await sink.close();
    await dns.close();
  });
  beforeEach(async () => {
    sink.received.length = 0;
    await sql`delete from messages`.execute(h.database.db);
    await sql`delete from message_contents`.execute(h.database.db);
    await sql`delete from submission_counters`.execute(h.database.db);
  });

  /** A listener on its own port with the harness's services; a short DNS timeout for the 451 test. */
  async function listen(overrides: Partial<SubmissionServiceDeps> = {}, listenerOptions: Partial<Parameters<typeof startSubmissionListener>[0]> = {}) {
    const services = h.context.services;
    const service = createSubmissionService({
      db: h.database.db,
      keys: services.keys,
      domains: services.domains,
      mx: createMxChecker({ resolver: createResolver([dns.address], 300) }),
      ratePerMinute: 0,
      ...overrides,
    });
    return startSubmissionListener({
      service,
      logger: pino({ level: 'silent' }),
      hostname: 'submission.test',
      port: 0,
      host: '127.0.0.1',
      sizeLimit: BODY_LIMIT,
      tls: cert,
      ...listenerOptions,
    });
  }

  function client(secret: string | null = key.secret, port = listener.port, options: Record<string, unknown> = {}) {
    return nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      ...(secret === null ? {} : { auth: { user: 'apikey', pass: secret } }),
      ...options,
    } as Parameters<typeof nodemailer.createTransport>[0]);
  }

  async function deliverAll(): Promise<void> {
    const job = h.context.jobs.find((j) => j.name === 'send')!;
    for (let i = 0; i < 20 && (await job.runOnce()) > 0; i++);
  }

  async function dkimResult(raw: Buffer) {
    const resolver = new Resolver();
    resolver.setServers([dns.address]);
    const verified = await dkimVerify(raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') as Promise<string[][]> });
    return verified.results[0];
  }

  const rejection = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return error as { responseCode?: number; response?: string };
    }
    assert.fail('expected the relay to refuse');
  };

  it('nodemailer: one signed copy per envelope recipient, the MIME kept, Bcc hidden, 250 naming the messages', async () => {
    const transport = client();
    const info = await transport.sendMail({
      from: '"Example News" <news@example.test>',
      to: 'Ann <ann@example.com>',
      cc: 'boss@example.com',
      bcc: 'hidden@example.com',
      subject: 'Your receipt ✓',
      text: 'Thanks for your order.',
      html: '<p>Thanks for your <b>order</b>.</p>',
      headers: { 'X-Order': '42' },
      attachments: [{ filename: 'receipt.pdf', content: Buffer.from('%PDF-1.4 test'), contentType: 'application/pdf' }],
    });
    transport.close();
    const ids = /^250 2\.0\.0 queued as ((?:msg_\S+ ?)+) \(request (req_\S+)\)$/.exec(info.response);
    assert.ok(ids, info.response);
    const messageIds = ids[1]!.trim().split(' ');
    assert.equal(messageIds.length, 3);
    const rows = await h.database.db.selectFrom('messages').select(['id', 'to_email', 'status', 'request_id', 'channel']).orderBy('to_email').execute();
    assert.deepEqual(rows.map((r) => r.to_email), ['ann@example.com', 'boss@example.com', 'hidden@example.com']);
    assert.deepEqual(new Set(rows.map((r) => r.id)), new Set(messageIds));
    assert.ok(rows.every((r) => r.status === 'queued' && r.request_id === ids[2] && r.channel === 'trans'));

    await deliverAll();
    assert.equal(sink.received.length, 3);
    for (const address of ['ann@example.com', 'boss@example.com', 'hidden@example.com']) {
      const mail = sink.received.find((m) => m.to[0] === address)!;
      assert.deepEqual(mail.to, [address]);
      const dkim = await dkimResult(mail.raw);
      assert.equal(dkim?.status.result, 'pass', JSON.stringify(dkim?.status));
      assert.equal(dkim?.signingDomain, 'example.test');
      const text = mail.raw.toString('utf8');
      assert.doesNotMatch(text, /^bcc:/im, 'no copy shows the Bcc header');
      assert.doesNotMatch(text, /hidden@example\.com/, 'the Bcc address appears in no copy');
      assert.doesNotMatch(text, /^x-md-channel:/im);
      const parsed = await simpleParser(mail.raw);
      assert.equal(parsed.messageId, info.messageId, "the client's Message-ID is kept");
      assert.equal(parsed.subject, 'Your receipt ✓');
      assert.equal(parsed.text?.trim(), 'Thanks for your order.');
      assert.equal(parsed.html, '<p>Thanks for your <b>order</b>.</p>');
      assert.equal(parsed.headers.get('x-order'), '42');
      assert.equal(parsed.attachments[0]?.filename, 'receipt.pdf');
      assert.equal(parsed.attachments[0]?.content.toString(), '%PDF-1.4 test');
      assert.match((parsed.to as { text: string }).text, /^"?Ann"? <ann@example\.com>$/);
    }
    const log = await h.call({ method: 'GET', url: `/v1/messages/${messageIds[0]}`, auth: key.secret });
    assert.equal(log.statusCode, 200);
    assert.equal(log.json().subject, 'Your receipt ✓');
  });

  it('Python smtplib: STARTTLS, AUTH LOGIN, EHLO SIZE is the API body limit, a message without Message-ID gets ours', async () => {
    const message = ['From: Billing <billing@example.test>', 'To: carl@example.com', 'Subject: Invoice 7', 'Content-Type: text/plain; charset=utf-8', '', 'Invoice 7 is attached in spirit.', ''].join('\n');
    const result = await python({ host: '127.0.0.1', port: listener.port, user: 'apikey', password: key.secret, starttls: true, mail_from: 'billing@example.test', rcpt: ['carl@example.com'], message });
    assert.equal(result.features.size, String(BODY_LIMIT));
    assert.equal(result.login, 'ok');
    assert.match(result.data![1], /^2\.0\.0 queued as msg_\S+ \(request req_\S+\)$/);
    const id = /msg_\S+/.exec(result.data![1])![0];
    await deliverAll();
    assert.equal(sink.received.length, 1);
    const mail = sink.received[0]!;
    assert.equal((await dkimResult(mail.raw))?.status.result, 'pass');
    const parsed = await simpleParser(mail.raw);
    assert.equal(parsed.messageId, `<${id}@mta.test>`);
    assert.ok(parsed.date instanceof Date);
    assert.equal(parsed.text?.trim(), 'Invoice 7 is attached in spirit.');
  });

  it('X-SMTPAPI: to with sub substitutions per recipient, category, unique_args, tracking; both headers stripped', async () => {
    const smtpapi = JSON.stringify({
      to: ['Ann <ann@example.com>', 'bob@cliente.example'],
      sub: { '-name-': ['Ann', 'Bob'], '-code-': ['A1', 'B2'] },
      category: ['receipts', 'march'],
      unique_args: { order: '42' },
      filters: { clicktrack: { settings: { enable: 1 } } },
    });
    const transport = client();
    const info = await transport.sendMail({
      from: 'news@example.test',
      to: 'placeholder@example.com',
      subject: 'Hello -name-',
      text: 'Hi -name-, your code is -code-.',
      html: '<p>Hi -name-, <a href="https://shop.example/orders/-code-">your order</a></p>',
      headers: { 'X-SMTPAPI': smtpapi, 'X-Md-Channel': 'bulk' },
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 queued as msg_\S+ msg_\S+ /);
    const content = await h.database.db.selectFrom('message_contents').select(['categories', 'settings']).executeTakeFirstOrThrow();
    assert.deepEqual(content.categories, ['receipts', 'march']);
    assert.deepEqual((content.settings as Record<string, unknown>).custom_args, { order: '42' });
    const rows = await h.database.db.selectFrom('messages').select(['to_email', 'channel']).orderBy('to_email').execute();
    assert.deepEqual(rows, [{ to_email: 'ann@example.com', channel: 'bulk' }, { to_email: 'bob@cliente.example', channel: 'bulk' }], 'the header list replaces the envelope');

    await deliverAll();
    assert.equal(sink.received.length, 2);
    for (const [address, name, code] of [['ann@example.com', 'Ann', 'A1'], ['bob@cliente.example', 'Bob', 'B2']] as const) {
      const mail = sink.received.find((m) => m.to[0] === address)!;
      assert.equal((await dkimResult(mail.raw))?.status.result, 'pass', `DKIM of ${address}`);
      const raw = mail.raw.toString('utf8');
      assert.doesNotMatch(raw, /^x-smtpapi:/im);
      assert.doesNotMatch(raw, /^x-md-channel:/im);
      assert.doesNotMatch(raw, /placeholder@example\.com/);
      const parsed = await simpleParser(mail.raw);
      assert.equal(parsed.subject, `Hello ${name}`);
      assert.equal(parsed.text?.trim(), `Hi ${name}, your code is ${code}.`);
      assert.match((parsed.to as { text: string }).text, new RegExp(address.replace('.', '\\.')));
      assert.match(raw, /^List-Unsubscribe: <https:\/\/links\.test\/u\/msg_/m, 'bulk mail carries List-Unsubscribe');
      const href = /href="([^"]+)"/.exec(parsed.html as string)![1]!;
      assert.ok(href.startsWith('https://links.test/t/c/msg_'), `the link goes through the click tracker: ${href}`);
      assert.equal(new URL(href).searchParams.get('u'), `https://shop.example/orders/${code}`, 'substituted, then tracked');
      assert.doesNotMatch(parsed.html as string, /-name-|-code-/);
    }
  });

  it('refuses AUTH before TLS, with both clients', async () => {
    const plain = client(key.secret, listener.port, { requireTLS: false, ignoreTLS: true });
    const error = await rejection(plain.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'x', text: 'x' }));
    plain.close();
    assert.equal(error.responseCode, 538);
    assert.match(error.response ?? '', /Must issue a STARTTLS command first/);
    const result = await python({ host: '127.0.0.1', port: listener.port, user: 'apikey', password: key.secret, starttls: false, mail_from: 'a@example.test', rcpt: [], message: '' });
    assert.equal((result.login as [number, string])[0], 538);
    assert.equal(await count(), 0);
  });

  it('allows plain AUTH on loopback only when the operator says so', async () => {
    const open = await listen({}, { plaintextLoopback: true });
    extra.push(open);
    const plain = client(key.secret, open.port, { requireTLS: false, ignoreTLS: true });
    const info = await plain.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'x', text: 'x' });
    plain.close();
    assert.match(info.response, /^250 2\.0\.0 queued as msg_/);
  });

  it('refuses a bad key and a user other than apikey; limits failed logins per address', async () => {
    const limited = await listen({ authFailureLimit: 3 });
    const other = await listen({ authFailureLimit: 3 });
    extra.push(limited, other);
    for (const [user, pass] of [['apikey', 'md_not_a_key'], ['admin', key.secret], ['apikey', 'md_wrong_again']]) {
      const t = client(null, limited.port, { auth: { user, pass } });
      const error = await rejection(t.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'x', text: 'x' }));
      t.close();
      assert.equal(error.responseCode, 535, error.response);
      assert.match(error.response ?? '', /5\.7\.8 authentication failed/);
    }
    // The fourth try is refused before the key is even looked at, on any listener sharing the database.
    for (const port of [limited.port, other.port]) {
      const t = client(key.secret, port);
      const error = await rejection(t.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'x', text: 'x' }));
      t.close();
      assert.equal(error.responseCode, 421, error.response);
      assert.match(error.response ?? '', /too many failed logins/);
    }
    assert.equal(await count(), 0);
  });

  it('refuses a revoked key at once: a new login, and the next message of a session already open', async () => {
    const victim = await h.newKey('victim', ['example.test']);
    const pooled = client(victim.secret, listener.port, { pool: true, maxConnections: 1 });
    await pooled.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'before', text: 'x' });
    const revoked = await h.call({ method: 'DELETE', url: `/v1/keys/${victim.id}` });
    assert.equal(revoked.statusCode, 204);
    const inSession = await rejection(pooled.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'after', text: 'x' }));
    pooled.close();
    assert.equal(inSession.responseCode, 535, inSession.response);
    const fresh = client(victim.secret);
    const login = await rejection(fresh.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'after', text: 'x' }));
    fresh.close();
    assert.equal(login.responseCode, 535);
    assert.equal(await count(), 1, 'only the message sent before the revocation');
  });

  it('refuses a From outside the key\'s sending domains with 550 5.7.1 and the reason', async () => {
    const t = client();
    const error = await rejection(t.sendMail({ from: 'ceo@unverified.example', to: 'ann@example.com', subject: 'x', text: 'x' }));
    t.close();
    assert.equal(error.responseCode, 550);
    assert.match(error.response ?? '', /^550 5\.7\.1 From domain unverified\.example is not a verified sending domain of this API key/);
    assert.equal(await count(), 0);
  });

  it('checks each recipient at RCPT with the three layers, naming the layer; a DNS timeout is 451', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['someone@mailinator.com', 550, /^550 5\.1\.0 disposable: mailinator\.com/],
      ['someone@null-mx.example', 550, /^550 5\.1\.2 mx: null-mx\.example accepts no mail/],
      ['someone@nowhere.example', 550, /^550 5\.1\.2 mx: nowhere\.example does not exist/],
      ['someone@slow.example', 451, /^451 4\.4\.3 mx: the DNS lookup of slow\.example failed/],
      ['someone@broken.example', 451, /^451 4\.4\.3 mx: /],
    ];
    for (const [address, code, text] of cases) {
      const t = client();
      const error = await rejection(t.sendMail({ from: 'news@example.test', to: address, subject: 'x', text: 'x' }));
      t.close();
      assert.equal(error.responseCode, code, `${address}: ${error.response}`);
      assert.match(error.response ?? '', text);
    }
    const result = await python({
      host: '127.0.0.1', port: listener.port, user: 'apikey', password: key.secret, starttls: true,
      mail_from: 'news@example.test', rcpt: ['someone@[192.0.2.1]', 'x@mailinator.com', 'ok@example.com'],
      message: 'From: news@example.test\r\nTo: ok@example.com\r\nSubject: s\r\n\r\nbody\r\n',
    });
    assert.equal(result.rcpt![0]![0], 550);
    assert.match(result.rcpt![0]![1], /^5\.1\.3 syntax:/);
    assert.deepEqual(result.rcpt!.slice(1).map((r) => r[0]), [550, 250]);
    assert.equal(result.data![0], 250, 'the accepted recipient still gets its message');
    assert.deepEqual((await h.database.db.selectFrom('messages').select('to_email').execute()).map((r) => r.to_email), ['ok@example.com']);
  });

  it('refuses an oversize message with 552 and queues nothing', async () => {
    const t = client();
    const error = await rejection(t.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'big', text: 'x'.repeat(BODY_LIMIT + 10) }));
    t.close();
    assert.equal(error.responseCode, 552, error.response);
    assert.equal(await count(), 0);
  });

  it('a retry with the same Message-ID is answered with the first ids and queues nothing twice', async () => {
    const mail = { from: 'news@example.test', to: 'ann@example.com', subject: 'once', text: 'x', messageId: '<retry-1@client.example>' };
    const t = client();
    const first = await t.sendMail(mail);
    const second = await t.sendMail(mail);
    t.close();
    assert.equal(second.response, first.response);
    assert.equal(await count(), 1);
  });

  it('limits messages per key per minute with 451 4.7.1, across listeners', async () => {
    // One instant for both listeners: a real clock could cross a minute between the sends and reset the count.
    const at = new Date();
    const a = await listen({ ratePerMinute: 3, now: () => at });
    const b = await listen({ ratePerMinute: 3, now: () => at });
    extra.push(a, b);
    const ta = client(key.secret, a.port);
    const tb = client(key.secret, b.port);
    await ta.sendMail({ from: 'news@example.test', to: ['ann@example.com', 'bob@example.com'], subject: '1', text: 'x' });
    await tb.sendMail({ from: 'news@example.test', to: 'carl@example.com', subject: '2', text: 'x' });
    const error = await rejection(tb.sendMail({ from: 'news@example.test', to: 'dora@example.com', subject: '3', text: 'x' }));
    ta.close();
    tb.close();
    assert.equal(error.responseCode, 451);
    assert.match(error.response ?? '', /^451 4\.7\.1 rate limit of 3 messages a minute/);
    assert.equal(await count(), 3);
  });

  it('implicit TLS (port 465 style), and a replaced certificate is served without a restart', async () => {
    const dir = path.dirname(makeCertificate('first.test').certPath);
    const files = { certPath: path.join(dir, 'cert.pem'), keyPath: path.join(dir, 'key.pem') };
    const secure = await listen({}, { tls: files, implicitTls: true, tlsPollMs: 20 });
    extra.push(secure);
    const commonName = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: secure.port, rejectUnauthorized: false }, () => {
          resolve(String(socket.getPeerCertificate().subject.CN));
          socket.destroy();
        });
        socket.on('error', reject);
      });
    assert.equal(await commonName(), 'first.test');
    const t = client(key.secret, secure.port, { secure: true, requireTLS: false });
    const info = await t.sendMail({ from: 'news@example.test', to: 'ann@example.com', subject: 'x', text: 'x' });
    t.close();
    assert.match(info.response, /^250 2\.0\.0 queued as msg_/);
    makeCertificate('second.test', dir);
    const deadline = Date.now() + 10_000;
    let seen = await commonName();
    while (seen !== 'second.test' && Date.now() < deadline) seen = await new Promise((r) => setTimeout(r, 20)).then(commonName);
    assert.equal(seen, 'second.test');
  });

  const count = async () => Number((await sql<{ n: number }>`select count(*)::int as n from messages`.execute(h.database.db)).rows[0]!.n);
});
