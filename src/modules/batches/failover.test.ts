import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { SEND_ZONE, clone } from '../send/test-fixtures.ts';

// 2,000 in the suite (CI's 15 minutes); BATCH_TEST_RECIPIENTS=50000 runs the size (about 10 min on PostgreSQL here).
const RECIPIENTS = Number(process.env.BATCH_TEST_RECIPIENTS ?? 2_000);
/** The main relay takes this many, then answers every recipient with a throttle. */
const MAIN_TAKES = Math.floor(RECIPIENTS * 0.4);

// A 50,000-recipient batch through two real SMTP servers; the main one starts refusing part-way.
describeEachEngine('batch failover between two providers', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let main: SmtpSink;
  let backup: SmtpSink;
  let accepted = 0;

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    main = await startSmtpSink({ onRecipient: () => (accepted++ < MAIN_TAKES ? null : { code: 451, message: '4.7.0 too many messages, slow down' }) });
    backup = await startSmtpSink();
    h = await startHarness(engine, {
      MAILERDASH_DNS_SERVERS: dns.address,
      MAILERDASH_PROVIDERS: JSON.stringify({ 'smtp-main': { type: 'smtp', url: main.url() }, 'smtp-backup': { type: 'smtp', url: backup.url() } }),
      MAILERDASH_BULK_CONCURRENCY: '32',
    });
  });
  after(async () => {
    await h.close();
    await main.close();
    await backup.close();
    await dns.close();
  });

  it('moves to the backup when the main relay throttles, logs it, and exports what each server received', async () => {
    const key = await h.newKey('bulk', ['tu-dominio.com']);
    const recipients = Array.from({ length: RECIPIENTS }, (_, i) => ({ email: `r${i}@example.com`, name: `R ${i}` }));
    const t0 = Date.now();
    const res = await h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'failover-50k' },
      payload: JSON.stringify({
        from: { email: 'news@tu-dominio.com' },
        subject: 'Hola {{name}}',
        content: [{ type: 'text/plain', value: 'Hola {{name}}' }],
        recipients,
        provider_policy: { providers: ['smtp-main', 'smtp-backup'], strategy: 'failover' },
      }),
      auth: key.secret,
    });
    assert.equal(res.statusCode, 202, res.body);
    if (process.env.DEBUG_BATCH) console.log('submitted', Date.now() - t0);
    const id = res.json().id as string;
    assert.equal(res.json().counts.accepted, RECIPIENTS);

    await h.workers.drain(100_000);
    if (process.env.DEBUG_BATCH) console.log('drained', Date.now() - t0);
    const batch = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: key.secret })).json();
    assert.deepEqual([batch.status, batch.outcome, batch.counts.sent, batch.counts.failed], ['completed', 'success', RECIPIENTS, 0]);
    assert.equal(main.received.length, MAIN_TAKES);
    assert.equal(backup.received.length, RECIPIENTS - MAIN_TAKES);

    const decisions = (await h.call({ method: 'GET', url: `/v1/batches/${id}/decisions`, auth: key.secret })).json().data as Array<{ provider: string; reason: string; detail: string | null; count: number }>;
    if (process.env.DEBUG_BATCH) console.log(JSON.stringify(decisions, null, 1));
    assert.equal(decisions[0]!.provider, 'smtp-main');
    assert.equal(decisions[0]!.reason, 'primary');
    const failover = decisions.find((d) => d.reason === 'failover');
    assert.ok(failover, JSON.stringify(decisions));
    assert.equal(failover.provider, 'smtp-backup');
    assert.match(failover.detail ?? '', /^smtp-main: 451/);
    // Counted, not repeated: a handful of entries for 50,000 choices.
    assert.ok(decisions.length < 20, JSON.stringify(decisions));
    assert.equal(decisions.filter((d) => d.provider === 'smtp-backup').reduce((n, d) => n + d.count, 0), RECIPIENTS - MAIN_TAKES);

    const exported = await h.call({ method: 'GET', url: `/v1/batches/${id}/recipients?format=csv`, auth: key.secret });
    const lines = exported.body.trim().split('\r\n');
    assert.equal(lines[0], 'index,email,status,rejection_reason,provider,provider_message_id,message_id,smtp_reply,accepted_at,sent_at,updated_at');
    const byProvider = new Map<string, Set<string>>([['smtp-main', new Set()], ['smtp-backup', new Set()]]);
    for (const line of lines.slice(1)) {
      const [, email, status, , provider] = line.split(',');
      assert.equal(status, 'sent');
      byProvider.get(provider!)!.add(email!);
    }
    assert.deepEqual(byProvider.get('smtp-main'), new Set(main.received.map((m) => m.to[0])));
    assert.deepEqual(byProvider.get('smtp-backup'), new Set(backup.received.map((m) => m.to[0])));
  });
});
