import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { simpleParser } from 'mailparser';
import pino from 'pino';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/support/webhook-receiver.ts';
import { slugId } from '../../lib/ids.ts';
import { createHandOff } from '../../delivery/hand-off.ts';
import { createDeliveryJob } from '../../workers/delivery.ts';
import { createSequenceScheduler } from '../../workers/sequence-scheduler.ts';
import type { Job } from '../../workers/runner.ts';

const json = { 'content-type': 'application/json' };
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const S = 1000;
const FROM = 'hola@miempresa.com';

describeEachEngine('sequence sending end to end', (engine) => {
  let h: Harness;
  let sink: SmtpSink;
  let receiver: WebhookReceiver;
  let key: { id: string; secret: string };
  let endpointSecret: string;
  let templateId: string;
  /** The scheduler's clock: moved by the tests, never slept for. */
  let clock = new Date();
  let scheduler: Job;
  const refuse = new Map<string, { code: number; message: string }>();

  const db = () => h.database.db;
  const call = (method: Method, url: string, payload?: unknown, auth: string | null = key.secret, headers: Record<string, string> = {}) =>
    h.call({ method, url, auth, headers: { ...(payload === undefined ? {} : json), ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const job = (name: string) => h.context.jobs.find((j) => j.name === name)!;
  /** Scheduler rounds, then the send job, until neither has anything left. */
  const pump = async () => {
    // Never behind the wall clock (subscriptions are timed by the API's own clock).
    if (clock.getTime() < Date.now()) clock = new Date();
    for (;;) {
      let made = 0;
      for (let n = await scheduler.runOnce(); n > 0; n = await scheduler.runOnce()) made += n;
      const sent = await job('send').runOnce();
      if (!made && !sent) return;
    }
  };
  /** Every webhook event delivered so far to the real receiver, signatures verified. */
  const hooks = async () => {
    const delivery = job('webhook-delivery') as Job & { settle(): Promise<void> };
    await delivery.runOnce();
    await delivery.settle();
    return receiver.received.map((hook) => {
      const headers = { 'webhook-id': String(hook.headers['webhook-id']), 'webhook-timestamp': String(hook.headers['webhook-timestamp']), 'webhook-signature': String(hook.headers['webhook-signature']) };
      return new StandardWebhook(endpointSecret).verify(hook.body, headers) as { type: string; data: Record<string, any> };
    });
  };
  const hooksFor = async (email: string, type?: string) => (await hooks()).filter((e) => e.data.email === email && (!type || e.type === type));

  const sequence = async (name: string, steps: Array<Record<string, unknown>>, status = 'active') => {
    const res = await call('POST', '/v1/bulk/sequences', { name });
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().id as string;
    for (const [i, step] of steps.entries()) {
      const added = await call('POST', `/v1/bulk/sequences/${id}/steps`, { position: i + 1, from_email: FROM, ...step });
      assert.equal(added.statusCode, 201, added.body);
    }
    if (status !== 'draft') assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status })).statusCode, 200);
    return id;
  };
  const textSteps = (...offsets: number[]) => offsets.map((offset_seconds, i) => ({ offset_seconds, subject: `Step ${i + 1} for {{ name }}`, body_text: 'Hi {{ name }}: {{ unsubscribe_url }}' }));
  const contact = (email: string, name: string) => db().insertInto('contacts').values({ key_id: key.id, email, name, metadata: JSON.stringify({ plan: 'pro' }) }).execute();
  const subscribe = async (id: string, email: string, body: Record<string, unknown> = {}) => {
    const res = await call('POST', `/v1/bulk/sequences/${id}/subscribers`, { email, ...body });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  };
  const subscriber = async (id: string, email: string) => (await call('GET', `/v1/bulk/sequences/${id}/subscribers/${email}`)).json();
  const row = (id: string, email: string) => db().selectFrom('sequence_subscribers').selectAll().where('sequence_id', '=', id).where('email', '=', email).executeTakeFirstOrThrow();
  const sentAt = async (subscriberId: string, position: number) =>
    (await db().selectFrom('messages').select('sent_at').where('sequence_subscriber_id', '=', subscriberId).where('sequence_step_position', '=', position).executeTakeFirstOrThrow()).sent_at!;
  const mailsTo = (email: string) => sink.received.filter((m) => m.to[0] === email);

  before(async () => {
    sink = await startSmtpSink({ onRecipient: (a) => refuse.get(a) ?? null });
    receiver = await startWebhookReceiver();
    h = await startHarness(engine, {
      MAILERDASH_SMTP_URL: sink.url(),
      MAILERDASH_PUBLIC_URL: 'https://links.test',
      MAILERDASH_BOUNCE_DOMAIN: 'bounce.test',
      MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    });
    key = await h.newKey('empresa', ['miempresa.com']);
    scheduler = createSequenceScheduler({ db: db(), logger: pino({ level: 'silent' }), now: () => clock });
    const endpoint = await call('POST', '/v1/webhooks', { url: receiver.url(), events: ['sequence.*'] });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
    endpointSecret = endpoint.json().secret;
    templateId = slugId('Bienvenida');
    await db()
      .insertInto('templates')
      .values({ id: templateId, key_id: key.id, name: 'Bienvenida', subject: 'Template subject', html: '<p>Hola {{ name }}, plan {{ metadata.plan }}.</p>', body_text: 'Hola {{ name }}. Baja: {{ unsubscribe_url }}' })
      .execute();
  });
  after(async () => {
    for (const j of h.context.jobs) await (j as { close?: () => Promise<void> }).close?.();
    await h.close();
    await sink.close();
    await receiver.close();
  });

  it('the seed example: step 1 at once, rendered with the name; step 2 only 259200 s after step 1 was sent; then completed, with webhooks', { timeout: 120_000 }, async () => {
    await contact('ana@empresa.com', 'Ana');
    const id = await sequence('Onboarding - Bienvenida', [
      { offset_seconds: 0, template_id: templateId, subject: 'Bienvenida, {{name}}' },
      { offset_seconds: 259200, template_id: templateId, subject: '¿Qué tal, {{name}}?' },
    ]);
    assert.match(id, /^onboarding-bienvenida-[0-9a-f]{6}$/);
    clock = new Date();
    const sub = await subscribe(id, 'ana@empresa.com', { variables: { plan: 'ignored', city: 'Lima' } });
    await pump();

    assert.equal(mailsTo('ana@empresa.com').length, 1);
    const first = await simpleParser(mailsTo('ana@empresa.com')[0]!.raw);
    assert.equal(first.subject, 'Bienvenida, Ana');
    assert.match(first.html || '', /Hola Ana, plan pro\./, 'the contact metadata wins over the subscription variables');
    assert.equal(first.headers.get('x-md-channel'), 'bulk');
    assert.match(mailsTo('ana@empresa.com')[0]!.raw.toString().split('\r\n\r\n')[0]!, /List-Unsubscribe: <https:\/\/links\.test\/u\//);
    assert.match(mailsTo('ana@empresa.com')[0]!.raw.toString(), /List-Unsubscribe-Post: List-Unsubscribe=One-Click/);
    const step1At = await sentAt(sub.id, 1);
    const state = await subscriber(id, 'ana@empresa.com');
    assert.equal(state.status, 'active');
    assert.equal(state.steps_sent.length, 1);
    assert.equal(new Date(state.next_due_at).getTime(), step1At.getTime() + 259200 * S);

    clock = new Date(step1At.getTime() + 259200 * S - 1);
    await pump();
    assert.equal(mailsTo('ana@empresa.com').length, 1, 'nothing before the offset has passed');

    clock = new Date(step1At.getTime() + 259200 * S);
    await pump();
    assert.equal(mailsTo('ana@empresa.com').length, 2);
    assert.equal((await simpleParser(mailsTo('ana@empresa.com')[1]!.raw)).subject, '¿Qué tal, Ana?');
    assert.equal((await row(id, 'ana@empresa.com')).status, 'completed');
    await pump();
    assert.equal(mailsTo('ana@empresa.com').length, 2);

    const events = await hooksFor('ana@empresa.com');
    assert.deepEqual(events.map((e) => e.type), ['sequence.subscribed', 'sequence.step.sent', 'sequence.step.sent', 'sequence.completed']);
    const messages = await db().selectFrom('messages').select(['id', 'sequence_step_position']).where('sequence_subscriber_id', '=', sub.id).orderBy('sequence_step_position').execute();
    assert.deepEqual(
      events.filter((e) => e.type === 'sequence.step.sent').map((e) => [e.data.position, e.data.message_id, e.data.subscriber_id, e.data.sequence_id]),
      messages.map((m) => [m.sequence_step_position, m.id, sub.id, id]),
    );
    assert.match(events[1]!.data.response, /^250/);
  });

  it('a draft or archived sequence holds due steps; they go out when it is active again', { timeout: 120_000 }, async () => {
    clock = new Date();
    await contact('hold@empresa.com', 'Hold');
    const id = await sequence('Held', textSteps(0, 60), 'draft');
    const sub = await subscribe(id, 'hold@empresa.com');
    await pump();
    assert.equal(mailsTo('hold@empresa.com').length, 0, 'draft: nothing');
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status: 'active' })).statusCode, 200);
    await pump();
    assert.equal(mailsTo('hold@empresa.com').length, 1, 'active: step 1');

    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status: 'archived' })).statusCode, 200);
    clock = new Date((await sentAt(sub.id, 1)).getTime() + 3600 * S);
    await pump();
    assert.equal(mailsTo('hold@empresa.com').length, 1, 'archived: step 2 held although due');
    assert.equal((await row(id, 'hold@empresa.com')).status, 'active');
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status: 'active' })).statusCode, 200);
    await pump();
    assert.equal(mailsTo('hold@empresa.com').length, 2, 'active again: the held step goes out');
    assert.equal((await row(id, 'hold@empresa.com')).status, 'completed');
  });

  it('pause holds the next step; resume keeps the wait that remained', { timeout: 120_000 }, async () => {
    clock = new Date();
    await contact('pausa@empresa.com', 'Pausa');
    const id = await sequence('Paused', textSteps(0, 3600));
    const sub = await subscribe(id, 'pausa@empresa.com');
    await pump();
    assert.equal(mailsTo('pausa@empresa.com').length, 1);
    assert.equal((await call('POST', `/v1/bulk/sequences/${id}/subscribers/pausa@empresa.com/pause`)).statusCode, 200);
    const paused = await row(id, 'pausa@empresa.com');
    clock = new Date((await sentAt(sub.id, 1)).getTime() + 7200 * S);
    await pump();
    assert.equal(mailsTo('pausa@empresa.com').length, 1, 'paused: nothing, though due');

    assert.equal((await call('POST', `/v1/bulk/sequences/${id}/subscribers/pausa@empresa.com/resume`)).statusCode, 200);
    const resumed = await row(id, 'pausa@empresa.com');
    const remaining = paused.next_due_at!.getTime() - paused.paused_at!.getTime();
    assert.ok(remaining > 3500 * S, 'the wait left at pause time');
    assert.ok(resumed.next_due_at!.getTime() - resumed.updated_at.getTime() === remaining, 'counted again from the resume');
    clock = new Date(resumed.next_due_at!.getTime() - 1);
    await pump();
    assert.equal(mailsTo('pausa@empresa.com').length, 1);
    clock = resumed.next_due_at!;
    await pump();
    assert.equal(mailsTo('pausa@empresa.com').length, 2);
    assert.equal((await row(id, 'pausa@empresa.com')).status, 'completed');
  });

  it('every way of leaving cancels with its reason and a sequence.cancelled webhook', { timeout: 180_000 }, async () => {
    clock = new Date();
    const id = await sequence('Leaving', textSteps(0, 3600));
    const people = ['unsub', 'manual', 'bounce', 'complaint', 'suppressed'].map((n) => `${n}@rcpt.test`);
    for (const email of people) {
      await contact(email, email.split('@')[0]!);
      await subscribe(id, email);
    }
    refuse.set('bounce@rcpt.test', { code: 550, message: '5.1.1 no such user' });
    await pump();
    for (const email of people) assert.equal(mailsTo(email).length, email.startsWith('bounce') ? 0 : 1, email);
    const contents = await db().selectFrom('messages').select('content_id').distinct().where('to_email', 'in', people).execute();
    assert.equal(contents.length, 1, "one message_contents row for the step, shared by its subscribers' messages");

    // The step's own one-click link.
    const link = new URL(mailsTo('unsub@rcpt.test')[0]!.raw.toString().match(/<(https:\/\/links\.test\/u\/[^>]+)>/)![1]!);
    const oneClick = await h.call({ method: 'POST', url: link.pathname, auth: null, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    assert.equal(oneClick.statusCode, 200);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}/subscribers/manual@rcpt.test`)).statusCode, 200);
    assert.equal((await call('PATCH', '/v1/bulk/contacts/complaint@rcpt.test', { status: 'complained' })).statusCode, 200);
    assert.equal((await call('POST', '/v1/suppressions', { emails: ['suppressed@rcpt.test'] })).statusCode < 300, true);

    const expected: Record<string, string> = {
      'unsub@rcpt.test': 'unsubscribed',
      'manual@rcpt.test': 'manual',
      'bounce@rcpt.test': 'bounced',
      'complaint@rcpt.test': 'complained',
      'suppressed@rcpt.test': 'suppressed',
    };
    for (const [email, reason] of Object.entries(expected)) {
      const r = await row(id, email);
      assert.deepEqual([r.status, r.cancel_reason], ['cancelled', reason], email);
      const cancelled = await hooksFor(email, 'sequence.cancelled');
      assert.equal(cancelled.length, 1, email);
      assert.equal(cancelled[0]!.data.reason, reason, email);
      assert.equal(cancelled[0]!.data.sequence_id, id);
    }
    const failed = await hooksFor('bounce@rcpt.test', 'sequence.step.failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.data.position, 1);
    assert.match(failed[0]!.data.response, /550/);

    clock = new Date(Date.now() + 7200 * S);
    await pump();
    for (const email of people) assert.equal(mailsTo(email).length, email.startsWith('bounce') ? 0 : 1, `${email}: no step after leaving`);
  });

  it('a step whose template was deleted fails (sequence.step.failed) and the subscriber moves on', { timeout: 120_000 }, async () => {
    clock = new Date();
    const gone = slugId('Gone');
    await db().insertInto('templates').values({ id: gone, key_id: key.id, name: 'Gone', subject: 'Gone', html: '<p>x</p>', body_text: 'x' }).execute();
    await contact('gone@empresa.com', 'Gone');
    const id = await sequence('Gone template', [{ offset_seconds: 0, template_id: gone }, ...textSteps(60).map((s) => ({ ...s, position: 2 }))]);
    await db().deleteFrom('templates').where('id', '=', gone).execute();
    const sub = await subscribe(id, 'gone@empresa.com');
    await pump();
    assert.equal(mailsTo('gone@empresa.com').length, 0);
    const failed = await hooksFor('gone@empresa.com', 'sequence.step.failed');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.data.response, /deleted/);
    const r = await row(id, 'gone@empresa.com');
    assert.equal(r.current_position, 1);
    assert.ok(r.next_due_at, 'step 2 is due');
    clock = r.next_due_at!;
    await pump();
    assert.equal(mailsTo('gone@empresa.com').length, 1);
    assert.equal((await db().selectFrom('messages').select('id').where('sequence_subscriber_id', '=', sub.id).execute()).length, 2);
  });

  it('a step edit or a template edit reaches only the sends still to come', { timeout: 120_000 }, async () => {
    await contact('edit@empresa.com', 'Edit');
    const id = await sequence('Edited', [
      { offset_seconds: 0, template_id: templateId },
      { offset_seconds: 60, subject: 'Old subject {{ name }}', body_text: 'old' },
      { offset_seconds: 60, template_id: templateId },
    ]);
    const sub = await subscribe(id, 'edit@empresa.com');
    await pump();
    assert.equal((await simpleParser(mailsTo('edit@empresa.com')[0]!.raw)).subject, 'Template subject');
    const steps = (await call('GET', `/v1/bulk/sequences/${id}`)).json().steps as Array<{ id: string; position: number }>;
    const patched = await call('PATCH', `/v1/bulk/sequences/${id}/steps/${steps[1]!.id}`, { subject: 'New subject {{ name }}' });
    assert.equal(patched.statusCode, 200, patched.body);
    clock = new Date((await sentAt(sub.id, 1)).getTime() + 60 * S);
    await pump();
    assert.equal((await simpleParser(mailsTo('edit@empresa.com')[1]!.raw)).subject, 'New subject Edit');
    await db().updateTable('templates').set({ subject: 'Edited template {{ name }}', updated_at: new Date() }).where('id', '=', templateId).execute();
    clock = new Date((await sentAt(sub.id, 2)).getTime() + 60 * S);
    await pump();
    assert.equal((await simpleParser(mailsTo('edit@empresa.com')[2]!.raw)).subject, 'Edited template Edit');
    assert.equal((await row(id, 'edit@empresa.com')).status, 'completed');
  });

  it("with this process's sender, step messages are made already claimed and handed over, and each is sent once", { timeout: 120_000 }, async () => {
    const handOff = createHandOff({ capacity: 100, leaseMs: 60_000 });
    const handing = createSequenceScheduler({ db: db(), logger: pino({ level: 'silent' }), now: () => clock, handOff });
    const sender = createDeliveryJob({ config: h.context.config, db: db(), logger: pino({ level: 'silent' }), signingKeyFor: async () => null, handOff });
    const emails = ['hand1@empresa.com', 'hand2@empresa.com', 'hand3@empresa.com'];
    for (const email of emails) await contact(email, email.split('@')[0]!);
    const id = await sequence('Handed', textSteps(0, 86_400));
    for (const email of emails) await subscribe(id, email);
    clock = new Date();

    assert.equal(await handing.runOnce(), 3);
    const made = await db().selectFrom('messages').select(['status', 'attempts', 'lease_until']).where('to_email', 'in', emails).execute();
    assert.deepEqual(made.map((m) => [m.status, m.attempts, m.lease_until !== null]), emails.map(() => ['sending', 1, true]));
    assert.equal(handOff.room(), 97, 'the three wait in the hand-off');
    assert.equal(await job('send').runOnce(), 0, "another sender does not claim them while their lease runs");

    while ((await sender.runOnce()) > 0);
    await sender.close();
    for (const email of emails) assert.equal(mailsTo(email).length, 1, email);
    for (const email of emails) assert.equal((await row(id, email)).current_position, 1);
    assert.ok((await Promise.all(emails.map((e) => row(id, e)))).every((r) => r.next_due_at !== null), 'each waits on step 2');
  });

  it('a step sends with open and click tracking unless the step turns it off', { timeout: 120_000 }, async () => {
    const html = '<p>Hi {{ name }}, <a href="https://shop.example/offer">offer</a></p>';
    await contact('tracked@empresa.com', 'Tracked');
    const id = await sequence('Tracking', [
      { offset_seconds: 0, subject: 'Tracked', html },
      { offset_seconds: 60, subject: 'Untracked', html, tracking: false },
    ]);
    const steps = (await call('GET', `/v1/bulk/sequences/${id}`)).json().steps;
    assert.deepEqual(steps.map((s: { tracking: boolean }) => s.tracking), [true, false]);
    const sub = await subscribe(id, 'tracked@empresa.com');
    await pump();
    clock = new Date((await sentAt(sub.id, 1)).getTime() + 60 * S);
    await pump();
    const [tracked, untracked] = await Promise.all(mailsTo('tracked@empresa.com').map((m) => simpleParser(m.raw)));
    assert.match(tracked!.html || '', /links\.test\/t\/o\//, 'open pixel');
    assert.match(tracked!.html || '', /links\.test\/t\/c\//, 'click link rewritten');
    assert.doesNotMatch(untracked!.html || '', /\/t\/[oc]\//);
    assert.match(untracked!.html || '', /href="https:\/\/shop\.example\/offer"/);
  });
});

