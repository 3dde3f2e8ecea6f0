import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { EventSource } from 'eventsource';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { SEND_ZONE, clone } from '../send/test-fixtures.ts';

interface Received {
  id: string;
  type: string;
  data: { status: string; outcome: string | null; counts: Record<string, number> };
}

/** Reads a batch's event stream with the eventsource client until batch.completed (or `stopAfter` events). */
function readEvents(baseUrl: string, id: string, secret: string, options: { lastEventId?: string; stopAfter?: number } = {}): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const events: Received[] = [];
    const source = new EventSource(`${baseUrl}/v1/batches/${id}/events`, {
      fetch: (url, init) =>
        fetch(url, { ...init, headers: { ...init.headers, authorization: `Bearer ${secret}`, ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}) } }),
    });
    const take = (type: string) => (event: MessageEvent) => {
      events.push({ id: event.lastEventId, type, data: JSON.parse(event.data).data });
      if (type === 'batch.completed' || events.length === options.stopAfter) {
        source.close();
        resolve(events);
      }
    };
    source.addEventListener('batch.progress', take('batch.progress'));
    source.addEventListener('batch.completed', take('batch.completed'));
    source.onerror = (error) => {
      source.close();
      reject(error);
    };
  });
}

describeEachEngine('batch canary, approval and progress stream', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let key: { id: string; secret: string };
  let baseUrl: string;

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    sink = await startSmtpSink({ onRecipient: (address) => (address.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : null) });
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url() });
    key = await h.newKey('canary', ['tu-dominio.com']);
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await h.close();
    await sink.close();
    await dns.close();
  });

  const submit = (recipients: Array<{ email: string }>, canary: Record<string, unknown>) =>
    h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ from: { email: 'news@tu-dominio.com' }, subject: 'Hola', content: [{ type: 'text/plain', value: 'Hola' }], recipients, canary }),
      auth: key.secret,
    });
  const get = async (id: string) => (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: key.secret })).json();

  it('sends a held canary slice, waits for approval, then the rest; the stream resumes after Last-Event-ID', async () => {
    const recipients = Array.from({ length: 100 }, (_, i) => ({ email: `ok${i}@example.com` }));
    const res = await submit(recipients, { percent: 5, hold: true });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    assert.match(res.json().canary.seed, /^[0-9a-f]{16}$/);
    assert.equal(res.json().canary.size, 5);

    await h.workers.drain();
    const held = await get(id);
    assert.equal(held.status, 'awaiting_approval');
    assert.equal(held.hold.reason, 'canary_hold');
    assert.deepEqual([held.counts.sent, held.counts.queued], [5, 95]);
    assert.equal(sink.received.length, 5);

    const approved = await h.call({ method: 'POST', url: `/v1/batches/${id}/approve`, auth: key.secret });
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal((await h.call({ method: 'POST', url: `/v1/batches/${id}/approve`, auth: key.secret })).statusCode, 409);
    await h.workers.drain();
    const done = await get(id);
    assert.deepEqual([done.status, done.outcome, done.counts.sent], ['completed', 'success', 100]);
    assert.equal(sink.received.length, 100);

    const all = await readEvents(baseUrl, id, key.secret);
    assert.deepEqual(all.map((e) => e.data.status).filter((s, i, list) => s !== list[i - 1]), ['accepted', 'canary', 'awaiting_approval', 'sending', 'completed']);
    assert.equal(all.at(-1)!.type, 'batch.completed');
    assert.equal(all.at(-1)!.data.counts.sent, 100);
    assert.deepEqual(all.map((e) => Number(e.id)), all.map((_, i) => i + 1));

    const firstTwo = await readEvents(baseUrl, id, key.secret, { stopAfter: 2 });
    const rest = await readEvents(baseUrl, id, key.secret, { lastEventId: firstTwo.at(-1)!.id });
    assert.deepEqual([...firstTwo, ...rest].map((e) => e.id), all.map((e) => e.id));
  });

  it('holds a batch on its own when the canary bounces past its threshold, and suppresses the bounced addresses', async () => {
    const before = sink.received.length;
    const recipients = Array.from({ length: 100 }, (_, i) => ({ email: `gone${i}@example.com` }));
    const res = await submit(recipients, { percent: 3, hold: false, max_bounce_rate: 0.1 });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    await h.workers.drain();
    const held = await get(id);
    assert.equal(held.status, 'awaiting_approval');
    assert.equal(held.hold.reason, 'bounce_rate');
    assert.equal(held.hold.bounce_rate, 1);
    assert.deepEqual([held.counts.bounced, held.counts.queued], [3, 97]);
    assert.equal(sink.received.length, before);
    const suppressions = (await h.call({ method: 'GET', url: '/v1/suppressions?reason=bounce', auth: key.secret })).json();
    assert.equal(suppressions.total, 3);

    const cancelled = await h.call({ method: 'POST', url: `/v1/batches/${id}/cancel`, auth: key.secret });
    assert.equal(cancelled.statusCode, 200);
    assert.deepEqual([cancelled.json().status, cancelled.json().counts.dropped], ['cancelled', 97]);
  });

  it('keeps an audit entry per batch change, scoped to the key (an admin sees all)', async () => {
    const audit = (await h.call({ method: 'GET', url: '/v1/audit', auth: key.secret })).json();
    const actions = (audit.data as Array<{ action: string; key_id: string; summary: Record<string, unknown> }>).map((e) => e.action).reverse();
    // The key's own creation (by the operator, h.newKey) comes first.
    assert.deepEqual(actions, ['key.created', 'batch.created', 'batch.approved', 'batch.completed', 'batch.created', 'batch.cancelled']);
    const created = audit.data.at(-2);
    assert.deepEqual([created.key_id, created.summary.accepted, (created.summary.canary as { percent: number }).percent], [key.id, 100, 5]);
    const other = await h.newKey('other', ['other.example']);
    assert.deepEqual((await h.call({ method: 'GET', url: '/v1/audit', auth: other.secret })).json().data.map((e: { action: string }) => e.action), ['key.created']);
    assert.equal((await h.call({ method: 'GET', url: `/v1/audit?key_id=${key.id}` })).json().total, 6);
    assert.equal((await h.call({ method: 'GET', url: `/v1/audit?key_id=${key.id}`, auth: other.secret })).statusCode, 403);
  });
});
