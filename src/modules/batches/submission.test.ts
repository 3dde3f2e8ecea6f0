import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { SEND_ZONE, clone } from '../send/test-fixtures.ts';

const content = { from: { email: 'news@tu-dominio.com', name: 'Tu Servicio' }, subject: 'Hola {{name}}', content: [{ type: 'text/plain', value: 'Hola {{name}}, tu plan es {{plan}}.' }] };

async function count(h: Harness, table: 'messages' | 'batches' | 'batch_recipients'): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(h.database.db);
  return Number(rows[0]!.n);
}

describeEachEngine('batch submission', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let alice: { id: string; secret: string };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    sink = await startSmtpSink();
    h = await startHarness(engine, {
      MAILERDASH_DNS_SERVERS: dns.address,
      MAILERDASH_PROVIDERS: JSON.stringify({ 'smtp-main': { type: 'smtp', url: sink.url() }, archive: { type: 'outbox' } }),
      MAILERDASH_DEFAULT_PROVIDER: 'smtp-main',
    });
    alice = await h.newKey('alice', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await sink.close();
    await dns.close();
  });

  const submit = (body: unknown, headers: Record<string, string> = {}, auth = alice.secret) =>
    h.call({ method: 'POST', url: '/v1/batches', payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers }, auth });

  it('pre-checks every recipient, queues only the accepted ones, and sends them with their variables', async () => {
    await h.call({ method: 'POST', url: '/v1/suppressions', payload: { emails: ['supr@example.com'] }, auth: alice.secret });
    await sql`insert into contacts (key_id, email, status) values (${alice.id}, 'Rebote@example.com', 'bounced')`.execute(h.database.db);
    const recipients = [
      { email: 'ana@example.com', name: 'Ana', variables: { plan: 'pro' } },
      { email: 'not an address' },
      { email: 'x@mailinator.com' },
      { email: 'y@null-mx.example' },
      { email: 'supr@example.com' },
      { email: 'rebote@example.com' },
      { email: 'ANA@example.com' },
      { email: 'beto@example.com', name: 'Beto', variables: { plan: 'free' } },
    ];
    const res = await submit({ ...content, recipients });
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json();
    assert.match(body.id, /^batch_/);
    assert.equal(body.status, 'accepted');
    assert.deepEqual([body.counts.submitted, body.counts.accepted, body.counts.rejected, body.counts.queued], [8, 2, 6, 2]);
    assert.deepEqual(
      body.rejections.map((r: { index: number; reason: string }) => [r.index, r.reason]),
      [[1, 'invalid_syntax'], [2, 'disposable_domain'], [3, 'no_mx'], [4, 'suppressed_manual'], [5, 'contact_bounced'], [6, 'duplicate']],
    );
    assert.equal(body.rejections_truncated, false);

    await h.workers.drain();
    const done = (await h.call({ method: 'GET', url: `/v1/batches/${body.id}`, auth: alice.secret })).json();
    assert.equal(done.status, 'completed');
    assert.equal(done.outcome, 'success');
    assert.equal(done.counts.sent, 2);
    assert.deepEqual(sink.received.map((m) => m.to[0]).sort(), ['ana@example.com', 'beto@example.com']);
    assert.match(sink.received.find((m) => m.to[0] === 'ana@example.com')!.raw.toString(), /Hola Ana, tu plan es pro\./);

    const exported = await h.call({ method: 'GET', url: `/v1/batches/${body.id}/recipients?format=ndjson`, auth: alice.secret });
    const rows = exported.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 8);
    assert.deepEqual(rows.filter((r) => r.status === 'sent').map((r) => [r.email, r.provider]), [['ana@example.com', 'smtp-main'], ['beto@example.com', 'smtp-main']]);
    assert.equal(rows[3].rejection_reason, 'no_mx');

    const decisions = (await h.call({ method: 'GET', url: `/v1/batches/${body.id}/decisions`, auth: alice.secret })).json().data;
    assert.deepEqual(decisions.map((d: { provider: string; reason: string; count: number }) => [d.provider, d.reason, d.count]), [['smtp-main', 'primary', 2]]);
    // Another key sees nothing of it.
    const bob = await h.newKey('bob', ['bob.example']);
    assert.equal((await h.call({ method: 'GET', url: `/v1/batches/${body.id}`, auth: bob.secret })).statusCode, 404);
  });

  it('refuses an unknown provider, a bad recipient and an unknown field with a 400, leaving nothing behind', async () => {
    const before = [await count(h, 'batches'), await count(h, 'messages'), await count(h, 'batch_recipients')];
    const unknown = await submit({ ...content, recipients: [{ email: 'ana@example.com' }], provider_policy: { providers: ['smtp-main', 'ses-eu'], strategy: 'failover' } });
    assert.equal(unknown.statusCode, 400, unknown.body);
    assert.equal(unknown.json().errors[0].code, 'unknown_provider');
    const badRecipient = await submit({ ...content, recipients: [{ email: 'ana@example.com' }, { email: 5 }] });
    assert.equal(badRecipient.statusCode, 400);
    assert.equal(badRecipient.json().errors[0].field, 'recipients.1.email');
    const extra = await submit({ ...content, recipients: [{ email: 'ana@example.com' }], asm: {} });
    assert.equal(extra.statusCode, 400);
    assert.equal(extra.json().errors[0].code, 'unsupported_field');
    const truncated = await h.call({ method: 'POST', url: '/v1/batches', payload: '{"recipients":[{"email":"a@example.com"}', headers: { 'content-type': 'application/json' }, auth: alice.secret });
    assert.equal(truncated.statusCode, 400);
    assert.deepEqual([await count(h, 'batches'), await count(h, 'messages'), await count(h, 'batch_recipients')], before);
  });

  it('replays a retried submission, refuses its key with another body, and dedupes recipient keys across batches', async () => {
    const first = { ...content, recipients: [{ email: 'c1@example.com', idempotency_key: 'q3-c1' }, { email: 'c2@example.com', idempotency_key: 'q3-c2' }] };
    const a = await submit(first, { 'idempotency-key': 'reactivation-q3-part-1' });
    assert.equal(a.statusCode, 202, a.body);
    const messagesAfterFirst = await count(h, 'messages');
    const again = await submit(first, { 'idempotency-key': 'reactivation-q3-part-1' });
    assert.equal(again.statusCode, 202);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json().id, a.json().id);
    assert.equal(await count(h, 'messages'), messagesAfterFirst);
    const other = await submit({ ...first, subject: 'Otro' }, { 'idempotency-key': 'reactivation-q3-part-1' });
    assert.equal(other.statusCode, 422);

    // The same part resubmitted under a new batch key: its recipients' keys were used, so nothing is queued twice.
    const b = await submit({ ...content, recipients: [{ email: 'c2@example.com', idempotency_key: 'q3-c2' }, { email: 'c3@example.com', idempotency_key: 'q3-c3' }] }, { 'idempotency-key': 'reactivation-q3-part-2' });
    assert.equal(b.statusCode, 202, b.body);
    assert.deepEqual([b.json().counts.accepted, b.json().rejections[0].reason], [1, 'duplicate_idempotency_key']);
    await h.workers.drain();
    assert.equal(sink.countFor('c2@example.com'), 1);
    assert.equal(sink.countFor('c3@example.com'), 1);
  });
});
