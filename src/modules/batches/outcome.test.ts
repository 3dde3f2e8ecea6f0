import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../../../test/support/webhook-receiver.ts';
import type { ClaimedMessage } from '../../delivery/queue-repo.ts';
import { GIVE_UP_AFTER_MS } from '../../delivery/retry-schedule.ts';
import type { SendResult } from '../../delivery/smtp-outcome.ts';
import { SEND_ZONE, clone } from '../send/test-fixtures.ts';
import * as progress from './progress-repo.ts';
import { createBatchRouter } from './router.ts';

const json = { 'content-type': 'application/json' };
const THROTTLED: SendResult = { outcome: 'temporary', reply: '451 4.7.0 slow down', stage: 'rcpt' };
type BatchEvent = { type: string; data: { batch_id: string; status: string; outcome: string | null; counts: Record<string, number> } };

// A batch whose recipients end sent, bounced, suppressed and failed: its outcome, its webhooks (a real
// receiver, signatures checked), retry-failed, which queues the failed ones and nothing else, and the router's
// probe of a provider that failed.
describeEachEngine('batch outcome, webhooks and retry-failed', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let receiver: WebhookReceiver;
  let key: { id: string; secret: string };
  let hookSecret: string;
  let throttling = true;

  const verified = (hooks: ReceivedHook[]): BatchEvent[] =>
    hooks.map((hook) => {
      const headers = { 'webhook-id': String(hook.headers['webhook-id']), 'webhook-timestamp': String(hook.headers['webhook-timestamp']), 'webhook-signature': String(hook.headers['webhook-signature']) };
      return new StandardWebhook(hookSecret).verify(hook.body, headers) as BatchEvent;
    });
  const batchHooks = (id: string) => verified(receiver.received).filter((e) => e.data.batch_id === id);
  /** Runs the workers (and waits for the webhook deliveries they started) until nothing is left to do. */
  const settle = async () => {
    const delivery = h.context.jobs.find((j) => j.name === 'webhook-delivery') as unknown as { settle(): Promise<void> };
    for (let round = 0; round < 20; round++) {
      const handled = await h.workers.drain();
      await delivery.settle();
      if (handled === 0) return;
    }
  };
  const completedHooks = async (id: string) => {
    await settle();
    return batchHooks(id);
  };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    sink = await startSmtpSink({
      onRecipient: (address) =>
        address.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : address.startsWith('slow') && throttling ? { code: 451, message: '4.7.1 try later' } : null,
    });
    receiver = await startWebhookReceiver();
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url(), MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
    key = await h.newKey('outcome', ['tu-dominio.com']);
    const hook = await h.call({ method: 'POST', url: '/v1/webhooks', headers: json, auth: key.secret, payload: { url: receiver.url(), events: ['batch.*'] } });
    assert.equal(hook.statusCode, 201, hook.body);
    hookSecret = hook.json().secret;
  });
  after(async () => {
    await h.close();
    await receiver.close();
    await sink.close();
    await dns.close();
  });

  it('ends partial over finally failed recipients, says so in batch.completed, and retry-failed queues only those', async () => {
    await h.database.db.insertInto('suppressions').values({ key_id: key.id, email: 'blocked@example.com', reason: 'manual', source_type: 'test' }).execute();
    const emails = ['ok1@example.com', 'ok2@example.com', 'gone@example.com', 'blocked@example.com', 'slow1@example.com', 'slow2@example.com'];
    const res = await h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: json,
      auth: key.secret,
      payload: { from: { email: 'news@tu-dominio.com' }, subject: 'Hi {{name}}', content: [{ type: 'text/plain', value: 'Hi' }], recipients: emails.map((email) => ({ email })) },
    });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    assert.deepEqual(res.json().rejections, [{ index: 3, email: 'blocked@example.com', reason: 'suppressed_manual' }]);

    // The first attempt: slow ones are deferred. Their retry window then lies behind them (as stored),
    // so the next attempt is their last.
    await h.workers.drain();
    const deferred = await h.database.db.selectFrom('messages').select(['id', 'status']).where('batch_id', '=', id).where('to_email', 'like', 'slow%').execute();
    assert.deepEqual(deferred.map((m) => m.status), ['deferred', 'deferred']);
    await sql`update messages set first_attempt_at = ${new Date(Date.now() - GIVE_UP_AFTER_MS - 60_000)}, due_at = ${new Date()}
              where id = any(${deferred.map((m) => m.id)}::text[])`.execute(h.database.db);
    await h.workers.drain();

    const done = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: key.secret })).json();
    assert.deepEqual([done.status, done.outcome, done.counts.sent, done.counts.bounced, done.counts.failed, done.counts.rejected], ['completed', 'partial', 2, 1, 2, 1]);
    const events = await completedHooks(id);
    const completed = events.filter((e) => e.type === 'batch.completed');
    assert.equal(completed.length, 1, JSON.stringify(events.map((e) => e.type)));
    assert.deepEqual([completed[0]!.data.outcome, completed[0]!.data.counts.failed, completed[0]!.data.counts.sent], ['partial', 2, 2]);
    assert.equal(events.at(-1)!.type, 'batch.completed');
    assert.ok(events.some((e) => e.type === 'batch.progress' && e.data.status === 'accepted'));

    // Not while it is still sending; then only the two failed ones, to the sink once more each.
    throttling = false;
    const before = sink.received.map((m) => m.to[0]);
    const retried = await h.call({ method: 'POST', url: `/v1/batches/${id}/retry-failed`, auth: key.secret });
    assert.equal(retried.statusCode, 200, retried.body);
    assert.equal(retried.json().retried, 2);
    assert.equal((await h.call({ method: 'POST', url: `/v1/batches/${id}/retry-failed`, auth: key.secret })).statusCode, 409);
    await h.workers.drain();
    const after = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: key.secret })).json();
    assert.deepEqual([after.status, after.outcome, after.counts.sent, after.counts.bounced, after.counts.failed], ['completed', 'success', 4, 1, 0]);
    assert.deepEqual(sink.received.map((m) => m.to[0]).slice(before.length).sort(), ['slow1@example.com', 'slow2@example.com']);
    assert.deepEqual((await h.call({ method: 'POST', url: `/v1/batches/${id}/retry-failed`, auth: key.secret })).json().errors[0].code, 'nothing_to_retry');
    // The counts are the batch's own, not a count of its messages: they stay once retention removed those.
    await sql`delete from messages where batch_id = ${id}`.execute(h.database.db);
    const retired = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: key.secret })).json();
    assert.deepEqual(retired.counts, after.counts);
    const finals = (await completedHooks(id)).filter((e) => e.type === 'batch.completed');
    assert.deepEqual(finals.map((e) => e.data.outcome), ['partial', 'success']);
  });

  it('tells webhooks of moving counts at most every 10 s, and of every status change at once', async () => {
    const id = 'batch_progress_rate_0001';
    await h.database.db.insertInto('batches').values({ id, key_id: key.id, status: 'sending', channel: 'bulk', submitted: 3, accepted: 3 } as never).execute();
    const t0 = Date.UTC(2026, 11, 2, 12, 0, 0);
    const at = (s: number) => new Date(t0 + s * 1000);
    await progress.recordChange(h.database.db, id, at(0));
    for (const s of [1, 4, 9]) await progress.recordChange(h.database.db, id, at(s), false);
    await progress.recordChange(h.database.db, id, at(10), false);
    await progress.recordChange(h.database.db, id, at(12), false);
    await h.database.db.updateTable('batches').set({ status: 'completed', outcome: 'success' }).where('id', '=', id).execute();
    await progress.recordChange(h.database.db, id, at(13));

    const outbox = await h.database.db.selectFrom('events').select(['type', 'at']).where('key_id', '=', key.id).where('type', 'like', 'batch.%').where('at', '>=', at(0)).where('at', '<=', at(13)).orderBy('at').execute();
    assert.deepEqual(outbox.map((e) => [e.type, (new Date(e.at).getTime() - t0) / 1000]), [['batch.progress', 0], ['batch.progress', 10], ['batch.completed', 13]]);
    // The stream keeps every step (at most once a second is its reader's pace, not the log's).
    assert.equal((await progress.progressAfter(h.database.db, id, 0)).length, 7);

    await h.workers.drain();
    const delivered = await completedHooks(id);
    assert.deepEqual(delivered.map((e) => [e.type, e.data.status]), [['batch.progress', 'sending'], ['batch.progress', 'sending'], ['batch.completed', 'completed']]);
    assert.equal(delivered[2]!.data.counts.submitted, 3);
  });

  // The router on an injected clock: a failed provider is probed by one message per window, not by a round.
  it('is passed over, then probed by one message; a failed probe doubles the window, a passed one brings it back', async () => {
    const key = await h.newKey('router');
    const batchId = 'batch_router_probe_0001';
    const policy = { providers: ['main', 'backup'], strategy: 'failover' };
    await h.database.db.insertInto('batches').values({ id: batchId, key_id: key.id, status: 'sending', channel: 'bulk', policy: JSON.stringify(policy) } as never).execute();
    const router = createBatchRouter({ db: h.database.db, defaultProvider: 'main' });
    let n = 0;
    const round = (size: number) =>
      Array.from({ length: size }, () => ({ id: `msg_router_${n++}`, key_id: key.id, batch_id: batchId, channel: 'bulk', lane: 1, attempts: 1 }) as unknown as ClaimedMessage);
    const t0 = Date.UTC(2026, 11, 2, 10, 0, 0);
    const at = (s: number) => new Date(t0 + s * 1000);
    /** One round at `s`: which provider each message got; `fails` of main fail over. */
    const run = async (s: number, size: number, mainFails: boolean) => {
      const messages = round(size);
      const plan = await router.plan(messages, at(s));
      const to: string[] = [];
      for (const m of messages) {
        const choice = plan.get(m.id)!;
        assert.equal(choice.kind, 'send');
        const provider = (choice as { provider: string }).provider;
        to.push(provider === 'main' && mainFails ? `main>${await router.failover(m, 'main', THROTTLED, at(s))}` : provider);
      }
      await router.flush(at(s));
      return to.reduce<Record<string, number>>((c, p) => ({ ...c, [p]: (c[p] ?? 0) + 1 }), {});
    };

    assert.deepEqual(await run(0, 10, true), { 'main>backup': 10 });
    assert.deepEqual(await run(20, 10, true), { backup: 10 }, 'within the 30 s window');
    assert.deepEqual(await run(31, 10, true), { 'main>backup': 1, backup: 9 }, 'one probe');
    assert.deepEqual(await run(80, 10, true), { backup: 10 }, 'the failed probe doubled the window to 60 s');
    assert.deepEqual(await run(92, 10, false), { main: 1, backup: 9 }, 'a probe that passes');
    assert.deepEqual(await run(93, 10, false), { main: 10 }, 'main is back');

    const decisions = (await h.call({ method: 'GET', url: `/v1/batches/${batchId}/decisions`, auth: key.secret })).json().data as Array<{ provider: string; reason: string; count: number }>;
    assert.deepEqual(
      decisions.map((d) => [d.provider, d.reason, d.count]),
      [
        ['main', 'primary', 10],
        ['backup', 'failover', 20],
        ['main', 'probe', 1],
        ['backup', 'failover', 20],
        ['main', 'probe', 1],
        ['backup', 'failover', 9],
        ['main', 'primary', 10],
      ],
    );
  });
});
