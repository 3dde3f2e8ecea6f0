import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import pino from 'pino';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../../../test/support/webhook-receiver.ts';
import { createOutboundGuard } from '../../lib/ssrf.ts';
import { createWebhookDeliveryJob } from '../../workers/webhook-delivery.ts';
import { emitEvent, emitEvents } from '../events/outbox.ts';
import { MAX_ATTEMPTS, nextAttemptAt } from './retry-schedule.ts';
import { createWebhookSender } from './sender.ts';

const json = { 'content-type': 'application/json' };

function verifyBoth(secret: string, hook: ReceivedHook): Record<string, unknown> {
  const headers = { 'webhook-id': String(hook.headers['webhook-id']), 'webhook-timestamp': String(hook.headers['webhook-timestamp']), 'webhook-signature': String(hook.headers['webhook-signature']) };
  const viaStandard = new StandardWebhook(secret).verify(hook.body, headers) as Record<string, unknown>;
  const viaSvix = new SvixWebhook(secret).verify(hook.body, headers) as Record<string, unknown>;
  assert.deepEqual(viaSvix, viaStandard);
  return viaStandard;
}

describeEachEngine('webhook delivery', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let receiver: WebhookReceiver;
  let key: { id: string; secret: string };
  let clock: Date;
  let jobs: { delivery: ReturnType<typeof createWebhookDeliveryJob> };

  const db = () => h.database.db;
  const newEndpoint = async (url: string, events?: string[], auth = key.secret) => {
    const res = await h.call({ method: 'POST', url: '/v1/webhooks', headers: json, auth, payload: { url, ...(events ? { events } : {}) } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { id: string; secret: string };
  };
  /** One round of delivery on the test's clock, waiting for every endpoint loop to finish. */
  const deliver = async () => {
    await jobs.delivery.runOnce();
    await jobs.delivery.settle();
  };
  const deliveries = async (endpointId: string) =>
    (await h.call({ method: 'GET', url: `/v1/webhooks/${endpointId}/deliveries`, auth: key.secret })).json().data as Array<Record<string, any>>;
  const runJob = async (name: string) => {
    const job = h.context.jobs.find((j) => j.name === name)!;
    while ((await job.runOnce()) > 0);
  };

  before(async () => {
    dns = await startDnsServer({ 'rcpt.test': [{ type: 'MX', exchange: 'mx.rcpt.test', priority: 10 }] });
    h = await startHarness(engine, { MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MAILERDASH_DNS_SERVERS: dns.address });
    key = await h.newKey('alice', ['alice.example']);
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  async function freshReceiverAndJobs() {
    receiver = await startWebhookReceiver();
    clock = new Date();
    const sender = createWebhookSender({ guard: createOutboundGuard({ allowHosts: ['127.0.0.1'] }), connectionsPerOrigin: 4 });
    jobs = {
      delivery: createWebhookDeliveryJob({ db: db(), sender, secrets: h.context.webhookSecrets, logger: pino({ level: 'silent' }), concurrency: 4, now: () => clock, random: () => 0.5 }),
    };
  }
  afterEach(async () => {
    await jobs.delivery.close?.();
    await receiver.close();
    await db().deleteFrom('webhooks').execute();
  });

  it('a transactional send reports message.sent, signed for both verifiers, with its custom_args', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['message.*']);
    const send = await h.call({
      method: 'POST',
      url: '/v1/mail/send',
      headers: json,
      auth: key.secret,
      payload: {
        personalizations: [{ to: [{ email: 'ana@rcpt.test' }], custom_args: { order: '42' } }],
        from: { email: 'shop@alice.example' },
        subject: 'Your order',
        content: [{ type: 'text/plain', value: 'Thanks' }],
        custom_args: { tenant: 't1' },
      },
    });
    assert.equal(send.statusCode, 202, send.body);
    await runJob('send');
    await deliver();
    const [hook] = await receiver.waitFor(1);
    const event = verifyBoth(endpoint.secret, hook!) as { type: string; timestamp: string; data: Record<string, any> };
    assert.equal(event.type, 'message.sent');
    assert.equal(event.data.email, 'ana@rcpt.test');
    assert.equal(event.data.key_id, key.id);
    assert.equal(event.data.channel, 'trans');
    assert.equal(event.data.request_id, send.headers['x-message-id']);
    assert.match(event.data.message_id, /^msg_/);
    assert.deepEqual(event.data.custom_args, { tenant: 't1', order: '42' });
    assert.match(String(hook!.headers['webhook-id']), /^evt_/);
    const [delivery] = await deliveries(endpoint.id);
    assert.equal(delivery!.status, 'delivered');
    assert.equal(delivery!.attempts, 1);
    assert.equal(delivery!.last_status, 200);
    assert.equal(delivery!.last_body, 'ok');
  });

  it('a change that rolls back reports nothing; a key without an endpoint keeps no event row', async () => {
    await freshReceiverAndJobs();
    const before = Number((await db().selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: {} }, clock);
    assert.equal(Number((await db().selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n), before);
    await newEndpoint(receiver.url());
    await assert.rejects(
      db().transaction().execute(async (trx) => {
        await emitEvent(trx, { keyId: key.id, type: 'campaign.sent', data: { campaign_id: 'camp_x' } }, clock);
        throw new Error('the change fails');
      }),
    );
    assert.equal(Number((await db().selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n), before);
  });

  it('retries follow the schedule on the injected clock, with the same webhook-id, until delivered', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['campaign.sent']);
    const failures = 3;
    receiver.answer = (_hook, index) => (index < failures ? { status: 503, body: 'x'.repeat(5000) } : { status: 204 });
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: { campaign_id: 'camp_1' } }, clock);
    await deliver();
    let [delivery] = await deliveries(endpoint.id);
    assert.equal(delivery!.status, 'pending');
    assert.equal(delivery!.last_status, 503);
    assert.equal(delivery!.last_body.length, 1024, 'only the first 1 KB of the body is kept');
    for (let attempt = 1; attempt <= failures; attempt++) {
      const due = nextAttemptAt(attempt, clock, 0.5)!;
      assert.equal(delivery!.next_attempt_at, due.toISOString());
      // A moment before it is due, nothing is sent.
      clock = new Date(due.getTime() - 1);
      await deliver();
      assert.equal(receiver.received.length, attempt);
      clock = due;
      await deliver();
      assert.equal(receiver.received.length, attempt + 1);
      [delivery] = await deliveries(endpoint.id);
    }
    assert.equal(delivery!.status, 'delivered');
    assert.equal(delivery!.attempts, failures + 1);
    assert.equal(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size, 1);
    const endpointNow = (await h.call({ method: 'GET', url: `/v1/webhooks/${endpoint.id}`, auth: key.secret })).json();
    assert.equal(endpointNow.failing_since, null);
  });

  it('gives up after the last attempt of the schedule (more than 24 hours)', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['campaign.sent']);
    receiver.answer = () => ({ status: 500 });
    const start = clock;
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: {} }, clock);
    await deliver();
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      clock = nextAttemptAt(attempt, clock, 0.5)!;
      await deliver();
    }
    const [delivery] = await deliveries(endpoint.id);
    assert.equal(receiver.received.length, MAX_ATTEMPTS);
    assert.equal(delivery!.status, 'failed');
    assert.ok(clock.getTime() - start.getTime() > 24 * 3_600_000);
  });

  it('a 410 disables the endpoint at once; re-enabling resumes its pending deliveries', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['campaign.*']);
    receiver.answer = () => ({ status: 410 });
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: { n: 1 } }, clock);
    await deliver();
    const disabled = (await h.call({ method: 'GET', url: `/v1/webhooks/${endpoint.id}`, auth: key.secret })).json();
    assert.equal(disabled.enabled, false);
    assert.equal(disabled.disabled_reason, 'the endpoint answered 410 Gone');
    assert.equal(disabled.disabled_at, clock.toISOString());
    // Disabled: no new deliveries are made for it, and nothing is sent.
    await emitEvent(db(), { keyId: key.id, type: 'campaign.paused', data: { n: 2 } }, clock);
    await deliver();
    assert.equal(receiver.received.length, 1);
    receiver.answer = () => ({ status: 200 });
    const on = await h.call({ method: 'PATCH', url: `/v1/webhooks/${endpoint.id}`, auth: key.secret, headers: json, payload: { enabled: true } });
    assert.equal(on.json().enabled, true);
    clock = new Date();
    await deliver();
    assert.equal(receiver.received.length, 2);
    assert.equal((await deliveries(endpoint.id))[0]!.status, 'delivered');
  });

  it('an endpoint whose every attempt failed for 5 days is disabled', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['campaign.*']);
    receiver.answer = () => ({ status: 500 });
    for (let day = 0; day <= 5; day++) {
      await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: { day } }, clock);
      await deliver();
      if (day < 5) clock = new Date(clock.getTime() + 24 * 3_600_000);
    }
    const got = (await h.call({ method: 'GET', url: `/v1/webhooks/${endpoint.id}`, auth: key.secret })).json();
    assert.equal(got.enabled, false);
    assert.equal(got.disabled_reason, 'every attempt failed for 5 days');
  });

  it('a redirect is a failure and is never followed', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url('/moved'), ['campaign.sent']);
    receiver.answer = (hook) => (hook.path === '/moved' ? { status: 302, headers: { location: receiver.url('/elsewhere') } } : { status: 200 });
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: {} }, clock);
    await deliver();
    assert.deepEqual(receiver.received.map((r) => r.path), ['/moved']);
    const [delivery] = await deliveries(endpoint.id);
    assert.equal(delivery!.status, 'pending');
    assert.equal(delivery!.last_status, 302);
  });

  it('a hanging endpoint does not hold up another', async () => {
    await freshReceiverAndJobs();
    const hanging = await startWebhookReceiver();
    hanging.answer = () => 'hang';
    const stuck = await newEndpoint(hanging.url(), ['campaign.sent']);
    const flowing = await newEndpoint(receiver.url(), ['campaign.sent']);
    try {
      await emitEvents(db(), Array.from({ length: 20 }, (_, n) => ({ keyId: key.id, type: 'campaign.sent' as const, data: { n } })), clock);
      await jobs.delivery.runOnce();
      const got = await receiver.waitFor(20);
      // Taken in event order, up to 4 at once: each arrives, in roughly that order.
      const order = got.map((r) => (JSON.parse(r.body).data as { n: number }).n);
      assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 20 }, (_, n) => n));
      order.forEach((n, i) => assert.ok(Math.abs(n - i) < 4, `event ${n} arrived ${i}th`));
      // The hanging endpoint holds its 4 attempts open meanwhile, and got nothing further.
      await hanging.waitFor(4);
      assert.equal(hanging.received.length, 4);
    } finally {
      await hanging.close();
      await jobs.delivery.settle();
    }
    const flowed = await deliveries(flowing.id);
    assert.equal(flowed.length, 20);
    assert.ok(flowed.every((d) => d.status === 'delivered'));
    const failed = (await deliveries(stuck.id)).filter((d) => d.attempts > 0);
    assert.ok(failed.length >= 4 && failed.every((d) => d.status === 'pending' && d.last_status === null && d.last_error));
  });

  it('during a rotation both secrets verify the same delivery', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['webhook.test']);
    const rotated = (await h.call({ method: 'POST', url: `/v1/webhooks/${endpoint.id}/rotate-secret`, auth: key.secret })).json();
    const test = await h.call({ method: 'POST', url: `/v1/webhooks/${endpoint.id}/test`, auth: key.secret });
    assert.equal(test.statusCode, 202, test.body);
    clock = new Date();
    await deliver();
    const [hook] = await receiver.waitFor(1);
    assert.equal(String(hook!.headers['webhook-signature']).split(' ').length, 2);
    for (const secret of [endpoint.secret, rotated.secret]) assert.equal((verifyBoth(secret, hook!) as { type: string }).type, 'webhook.test');
    // Once the 24 hours are over (the overlap moved into the past: receivers check timestamps
    // against their own clock), only the new secret signs.
    await db().updateTable('webhooks').set({ previous_secret_until: new Date(Date.now() - 1000) }).where('id', '=', endpoint.id).execute();
    const retried = await h.call({ method: 'POST', url: `/v1/webhooks/${endpoint.id}/deliveries/${test.json().delivery_id}/retry`, auth: key.secret });
    assert.equal(retried.statusCode, 202);
    assert.equal(retried.json().status, 'pending');
    clock = new Date();
    await deliver();
    const [, second] = await receiver.waitFor(2);
    assert.equal(String(second!.headers['webhook-signature']).split(' ').length, 1);
    verifyBoth(rotated.secret, second!);
    assert.throws(() => new StandardWebhook(endpoint.secret).verify(second!.body, second!.headers as Record<string, string>));
  });

  it("the process's own jobs deliver a test event, and /metrics counts it", async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['campaign.sent']);
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: { pending: true } }, new Date());
    // Fanned out with the event, not yet delivered: pending, with an age.
    const before = (await h.call({ method: 'GET', url: '/metrics', auth: null })).body;
    assert.match(before, /^mailerdash_webhook_deliveries_pending 1$/m);
    assert.match(before, /^mailerdash_webhook_oldest_pending_seconds \d/m);
    const test = await h.call({ method: 'POST', url: `/v1/webhooks/${endpoint.id}/test`, auth: key.secret });
    assert.equal(test.statusCode, 202);
    const delivery = h.context.jobs.find((j) => j.name === 'webhook-delivery') as unknown as { runOnce(): Promise<number>; settle(): Promise<void> };
    await delivery.runOnce();
    await delivery.settle();
    const types = (await receiver.waitFor(2)).map((r) => JSON.parse(r.body).type);
    assert.deepEqual(types.sort(), ['campaign.sent', 'webhook.test']);
    const metrics = (await h.call({ method: 'GET', url: '/metrics', auth: null })).body;
    assert.match(metrics, /^mailerdash_webhook_attempts_total\{outcome="delivered"\} 2$/m);
    assert.match(metrics, /^mailerdash_webhook_deliveries_pending 0$/m);
  });

  it('an attempt that cannot be signed is a failed attempt, retried on schedule, and nothing is sent unsigned', async () => {
    await freshReceiverAndJobs();
    const endpoint = await newEndpoint(receiver.url(), ['campaign.sent']);
    await db().updateTable('webhooks').set({ secret_sealed: 'v1.not.a.sealed-value' }).where('id', '=', endpoint.id).execute();
    await emitEvent(db(), { keyId: key.id, type: 'campaign.sent', data: {} }, clock);
    await deliver();
    const [delivery] = await deliveries(endpoint.id);
    assert.equal(receiver.received.length, 0);
    assert.equal(delivery!.status, 'pending');
    assert.equal(delivery!.attempts, 1);
    assert.match(delivery!.last_error, /^not signed: /);
    assert.equal(delivery!.next_attempt_at, nextAttemptAt(1, clock, 0.5)!.toISOString());
  });
});
