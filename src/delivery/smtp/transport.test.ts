import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { startSmtpSink } from '../../../test/support/smtp-sink.ts';
import { createOutboxTransport } from '../outbox/transport.ts';
import { outgoingMessage } from '../transport.ts';
import { createSmtpTransport } from './transport.ts';

const raw = (n: number) => Buffer.from(`From: a@example.test\r\nTo: b@example.test\r\nSubject: m${n}\r\n\r\n.leading dot\r\nbody ${n}\r\n`);

/** A sink that answers later@ with 451 and gone@ with 550 at RCPT, and spam@ with 554 after DATA. */
const refusingSink = () =>
  startSmtpSink({
    onRecipient: (a) => (a.startsWith('later') ? { code: 451, message: 'try again later' } : a.startsWith('gone') ? { code: 550, message: 'no such user' } : null),
    onData: (m) => (m.to[0]?.startsWith('spam') ? { code: 554, message: 'rejected as spam' } : null),
  });

describe('SMTP transport against smtp-server on loopback', () => {
  it('writes a message given in pieces as they are, dot-stuffing a piece that starts with a dot, without joining them', async () => {
    const sink = await startSmtpSink();
    const transport = createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 1 });
    try {
      const body = Buffer.from('.starts with a dot\r\nthen\r\n.again\r\n');
      const message = outgoingMessage({ id: 'p1', envelopeFrom: 'b@bounce.test', recipient: 'r@example.test' }, [Buffer.from('Subject: pieces\r\n\r\n'), body]);
      assert.equal((await transport.send(message)).outcome, 'accepted');
      assert.equal(sink.received[0]!.raw.toString(), `Subject: pieces\r\n\r\n${body}`);
      assert.equal(message.raw.toString(), `Subject: pieces\r\n\r\n${body}`, 'raw is the pieces joined, for transports that read it whole');
    } finally {
      await transport.close();
      await sink.close();
    }
  });

  it('pipelines transactions over a small pool of reused connections', async () => {
    const sink = await startSmtpSink();
    const transport = createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 3 });
    try {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => transport.send({ id: `m${i}`, envelopeFrom: `b-m${i}@bounce.test`, recipient: `r${i}@example.test`, raw: raw(i) })));
      assert.ok(results.every((r) => r.outcome === 'accepted' && r.reply.startsWith('250')), JSON.stringify(results[0]));
      assert.equal(sink.received.length, 30);
      assert.ok(sink.connections.size <= 3, `${sink.connections.size} connections`);
      const first = sink.received.find((m) => m.to[0] === 'r0@example.test')!;
      assert.equal(first.from, 'b-m0@bounce.test');
      assert.match(first.raw.toString(), /\r\n\.leading dot\r\n/);
      for (let i = 0; i < 30; i++) assert.equal(sink.countFor(`r${i}@example.test`), 1);
    } finally {
      await transport.close();
      await sink.close();
    }
  });

  it('reports per-recipient 4xx and 5xx replies and keeps the connection usable', async () => {
    const sink = await refusingSink();
    const transport = createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 1 });
    try {
      const send = (to: string) => transport.send({ id: to, envelopeFrom: 'b@bounce.test', recipient: to, raw: raw(1) });
      const later = await send('later@example.test');
      assert.equal(later.outcome, 'temporary');
      assert.equal(later.stage, 'rcpt');
      assert.match(later.reply, /^451 .*try again later/);
      const gone = await send('gone@example.test');
      assert.equal(gone.outcome, 'permanent');
      assert.match(gone.reply, /^550 /);
      const spam = await send('spam@example.test');
      assert.deepEqual([spam.outcome, spam.stage], ['permanent', 'data']);
      const ok = await send('ok@example.test');
      assert.equal(ok.outcome, 'accepted');
      assert.equal(sink.connections.size, 1);
      assert.deepEqual(sink.received.map((m) => m.to[0]), ['ok@example.test']);
    } finally {
      await transport.close();
      await sink.close();
    }
  });

  it('queues transactions on one pipelining connection; refusals in the queue leave the others intact', async () => {
    const sink = await refusingSink();
    const transport = createSmtpTransport({ url: sink.url(), clientName: 'mta.test', maxConnections: 1 });
    try {
      const to = ['ok1', 'gone', 'ok2', 'later', 'spam', 'ok3', 'gone2', 'ok4'].map((n) => `${n}@example.test`);
      const results = await Promise.all(to.map((r, i) => transport.send({ id: r, envelopeFrom: `b${i}@bounce.test`, recipient: r, raw: raw(i) })));
      assert.deepEqual(
        results.map((r) => `${r.outcome}:${r.stage}`),
        ['accepted:data', 'permanent:rcpt', 'accepted:data', 'temporary:rcpt', 'permanent:data', 'accepted:data', 'permanent:rcpt', 'accepted:data'],
      );
      assert.equal(sink.connections.size, 1);
      assert.deepEqual(sink.received.map((m) => m.to[0]), ['ok1@example.test', 'ok2@example.test', 'ok3@example.test', 'ok4@example.test']);
      for (const [i, n] of [[0, 'ok1'], [2, 'ok2'], [5, 'ok3'], [7, 'ok4']] as const) {
        const mail = sink.received.find((m) => m.to[0] === `${n}@example.test`)!;
        assert.equal(mail.from, `b${i}@bounce.test`);
        assert.match(mail.raw.toString(), new RegExp(`body ${i}\r\n$`));
      }
    } finally {
      await transport.close();
      await sink.close();
    }
  });

  it('upgrades with STARTTLS and authenticates (PLAIN and LOGIN)', async () => {
    for (const method of ['PLAIN', 'LOGIN']) {
      const sink = await startSmtpSink({ starttls: true, credentials: { user: 'relay user', pass: 'p@ss:word' }, authMethods: [method] });
      const transport = createSmtpTransport({ url: sink.url('?tls_verify=false'), clientName: 'mta.test' });
      try {
        const result = await transport.send({ id: 'x', envelopeFrom: 'b@bounce.test', recipient: 'r@example.test', raw: raw(1) });
        assert.equal(result.outcome, 'accepted', result.reply);
        assert.equal(sink.received[0]!.secure, true);
        assert.equal(sink.received[0]!.user, 'relay user');
      } finally {
        await transport.close();
        await sink.close();
      }
    }
  });

  it('refuses an unverifiable certificate unless told otherwise, and speaks implicit TLS', async () => {
    const sink = await startSmtpSink({ implicitTls: true });
    const strict = createSmtpTransport({ url: sink.url(), clientName: 'mta.test' });
    const lax = createSmtpTransport({ url: sink.url('?tls_verify=false'), clientName: 'mta.test' });
    try {
      const refused = await strict.send({ id: 'x', envelopeFrom: 'b@bounce.test', recipient: 'r@example.test', raw: raw(1) });
      assert.deepEqual([refused.outcome, refused.stage], ['temporary', 'connect']);
      const ok = await lax.send({ id: 'y', envelopeFrom: 'b@bounce.test', recipient: 'r@example.test', raw: raw(2) });
      assert.equal(ok.outcome, 'accepted', ok.reply);
      assert.equal(sink.received.length, 1);
    } finally {
      await strict.close();
      await lax.close();
      await sink.close();
    }
  });

  it('wrong credentials and a closed port are temporary failures', async () => {
    const sink = await startSmtpSink({ credentials: { user: 'u', pass: 'right' } });
    const wrong = createSmtpTransport({ url: `smtp://u:wrong@127.0.0.1:${sink.port}`, clientName: 'mta.test' });
    try {
      const result = await wrong.send({ id: 'x', envelopeFrom: 'b@bounce.test', recipient: 'r@example.test', raw: raw(1) });
      assert.deepEqual([result.outcome, result.stage], ['temporary', 'connect']);
      assert.match(result.reply, /authentication failed/);
    } finally {
      await wrong.close();
      await sink.close();
    }
    const closed = createSmtpTransport({ url: `smtp://127.0.0.1:${sink.port}`, clientName: 'mta.test' });
    const result = await closed.send({ id: 'x', envelopeFrom: 'b@bounce.test', recipient: 'r@example.test', raw: raw(1) });
    assert.deepEqual([result.outcome, result.stage], ['temporary', 'connect']);
    await closed.close();
  });
});

describe('outbox transport', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  it('writes each message as an .eml file with its envelope', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'md-outbox-'));
    dirs.push(dir);
    const outbox = createOutboxTransport(path.join(dir, 'outbox'));
    const result = await outbox.send({ id: 'msg_abc', envelopeFrom: 'b-msg_abc@bounce.test', recipient: 'r@example.test', raw: raw(1) });
    assert.equal(result.outcome, 'accepted');
    const file = await readFile(path.join(dir, 'outbox', 'msg_abc.eml'), 'utf8');
    assert.match(file, /^Return-Path: <b-msg_abc@bounce\.test>\r\nX-Envelope-To: <r@example\.test>\r\nFrom: a@example\.test/);
  });
});
