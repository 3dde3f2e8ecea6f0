import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { mailgunSignature, startSnsTopic } from '../../../test/support/providers/event-signers.ts';
import { startMailgunFake } from '../../../test/support/providers/mailgun-server.ts';
import { startPostmarkFake } from '../../../test/support/providers/postmark-server.ts';
import { startSendgridFake } from '../../../test/support/providers/sendgrid-server.ts';
import { startSesFake } from '../../../test/support/providers/ses-server.ts';
import { SEND_ZONE, clone } from '../send/test-fixtures.ts';

const RECIPIENTS = Number(process.env.ESP_BATCH_TEST_RECIPIENTS ?? 120);
/** SES accepts this many, then throttles every call. */
const SES_TAKES = 30;
/** Refused by both providers: a permanent per-recipient failure, whichever provider it meets. */
const INVALID = 'r7@example.com';
const AWS = { key: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const MAILGUN_KEY = 'mailgun-signing-key-0123456789';

// Operator providers of type ses and mailgun behind the one transport interface: a batch with the
// policy ["ses-a","mailgun-b"], SES throttling part-way; their events come back by provider message id.
describeEachEngine('batch failover between SES and Mailgun (operator providers)', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let ses: Awaited<ReturnType<typeof startSesFake>>;
  let mailgun: Awaited<ReturnType<typeof startMailgunFake>>;
  let sns: Awaited<ReturnType<typeof startSnsTopic>>;
  let sendgrid: Awaited<ReturnType<typeof startSendgridFake>>;
  let postmark: Awaited<ReturnType<typeof startPostmarkFake>>;
  let key: { id: string; secret: string };
  let rows: Array<Record<string, string>> = [];

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    sns = await startSnsTopic();
    ses = await startSesFake({ region: 'eu-west-1', credentials: { [AWS.key]: AWS.secret }, rejected: new Set([INVALID]), throttleAfter: SES_TAKES });
    mailgun = await startMailgunFake({ keys: new Set(['key-mg']), domains: new Set(['mg.tu-dominio.com']), invalid: new Set([INVALID]) });
    sendgrid = await startSendgridFake({ keys: new Set(['SG.good']) });
    sendgrid.state.throttle = true;
    postmark = await startPostmarkFake({ tokens: new Set(['pm-good']) });
    const providers = {
      // The chain of the first test: a throttling SendGrid, then a Postmark and a Mailgun with bad credentials.
      'sendgrid-t': { type: 'sendgrid', api_key: 'SG.good', base_url: sendgrid.url },
      'postmark-x': { type: 'postmark', server_token: 'pm-revoked', base_url: postmark.url },
      'mailgun-x': { type: 'mailgun', api_key: 'key-revoked', domain: 'mg.tu-dominio.com', base_url: mailgun.url },
      'ses-a': { type: 'ses', region: 'eu-west-1', access_key_id: AWS.key, secret_access_key: AWS.secret, base_url: ses.url, sns_topic_arn: sns.topicArn },
      'mailgun-b': { type: 'mailgun', api_key: 'key-mg', domain: 'mg.tu-dominio.com', base_url: mailgun.url, webhook_signing_key: MAILGUN_KEY },
      outbox: { type: 'outbox' },
    };
    h = await startHarness(engine, {
      MAILERDASH_DNS_SERVERS: dns.address,
      MAILERDASH_PROVIDERS: JSON.stringify(providers),
      MAILERDASH_DEFAULT_PROVIDER: 'mailgun-b',
      MAILERDASH_SNS_CERT_URL_PATTERN: `^${sns.url.replace(/[.]/g, '\\.')}/`,
      MAILERDASH_BULK_CONCURRENCY: '16',
      // A key's own provider's base_url is SSRF-checked: the loopback fakes are allowed.
      MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    });
    key = await h.newKey('bulk', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await Promise.all([ses.close(), mailgun.close(), sendgrid.close(), postmark.close(), sns.close(), dns.close()]);
  });

  const submit = (idempotencyKey: string, emails: string[], providers: string[]) =>
    h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      payload: JSON.stringify({
        from: { email: 'news@tu-dominio.com' },
        subject: 'Novedades',
        content: [{ type: 'text/plain', value: 'Las novedades de la semana' }],
        recipients: emails.map((email) => ({ email })),
        provider_policy: { providers, strategy: 'failover' },
      }),
      auth: key.secret,
    });
  const decisionsOf = async (id: string) =>
    (await h.call({ method: 'GET', url: `/v1/batches/${id}/decisions`, auth: key.secret })).json().data as Array<{ provider: string; reason: string; detail: string | null; count: number }>;

  it('a throttling SendGrid, then Postmark and Mailgun with bad credentials: each defers, and the message moves on to the next provider', async () => {
    const res = await submit('esp-chain', Array.from({ length: 10 }, (_, i) => `chain${i}@example.com`), ['sendgrid-t', 'postmark-x', 'mailgun-x', 'outbox']);
    assert.equal(res.statusCode, 202, res.body);
    await h.workers.drain(1000);
    const batch = (await h.call({ method: 'GET', url: `/v1/batches/${res.json().id}`, auth: key.secret })).json();
    assert.deepEqual([batch.status, batch.counts.sent], ['completed', 10]);
    const failovers = (await decisionsOf(res.json().id)).filter((d) => d.reason === 'failover');
    const into = (provider: string) => failovers.find((d) => d.provider === provider)?.detail ?? '';
    assert.match(into('postmark-x'), /^sendgrid-t: sendgrid 429/);
    assert.match(into('mailgun-x'), /^postmark-x: postmark 401 10 /);
    assert.match(into('outbox'), /^mailgun-x: mailgun 401 /);
    assert.ok(sendgrid.state.calls > 0 && postmark.state.calls > 0);
    assert.equal(mailgun.deliveries.length, 0);
  });

  it('fails over from the throttling SES to Mailgun, logs it, and exports provider and provider message id per recipient', async () => {
    const res = await submit('esp-failover', Array.from({ length: RECIPIENTS }, (_, i) => `r${i}@example.com`), ['ses-a', 'mailgun-b']);
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    await h.workers.drain(10_000);

    const batch = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: key.secret })).json();
    assert.deepEqual([batch.status, batch.counts.sent, batch.counts.bounced, batch.counts.failed], ['completed', RECIPIENTS - 1, 1, 0]);
    assert.equal(ses.sent.length, SES_TAKES);
    assert.equal(mailgun.deliveries.length, RECIPIENTS - 1 - SES_TAKES);

    const exported = await h.call({ method: 'GET', url: `/v1/batches/${id}/recipients?format=ndjson`, auth: key.secret });
    rows = exported.body.trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(rows.length, RECIPIENTS);
    const sesIds = new Map(ses.sent.map((s) => [s.to[0], s.id]));
    const mailgunIds = new Map(mailgun.deliveries.map((d) => [d.to, d.id]));
    for (const row of rows.filter((r) => r.email !== INVALID)) {
      assert.equal(row.status, 'sent', JSON.stringify(row));
      const expected = row.provider === 'ses-a' ? sesIds.get(row.email!) : row.provider === 'mailgun-b' ? mailgunIds.get(row.email!) : undefined;
      assert.ok(expected, JSON.stringify(row));
      assert.equal(row.provider_message_id, expected);
    }
    const invalid = rows.find((r) => r.email === INVALID)!;
    assert.deepEqual([invalid.status, invalid.provider_message_id], ['bounced', null]);
    assert.match(invalid.smtp_reply ?? '', invalid.provider === 'ses-a' ? /MessageRejected/ : /not a valid address/);
    const onMailgun = rows.filter((r) => r.provider === 'mailgun-b').length;

    const decisions = await decisionsOf(id);
    assert.deepEqual([decisions[0]!.provider, decisions[0]!.reason], ['ses-a', 'primary']);
    const failover = decisions.find((d) => d.reason === 'failover' && d.provider === 'mailgun-b');
    assert.ok(failover, JSON.stringify(decisions));
    assert.match(failover.detail ?? '', /^ses-a: ses 429 TooManyRequestsException/);
    // Every recipient Mailgun took was routed there by a logged decision (a failover, or SES passed over while down).
    assert.equal(decisions.filter((d) => d.provider === 'mailgun-b').reduce((n, d) => n + d.count, 0), onMailgun);
  });

  it('shows the provider message id on the message, and matches the providers\' events by it (operator webhook secrets)', async () => {
    const viaMailgun = rows.find((r) => r.provider === 'mailgun-b' && r.status === 'sent')!;
    const viaSes = rows.find((r) => r.provider === 'ses-a' && r.status === 'sent')!;
    const message = (await h.call({ method: 'GET', url: `/v1/messages/${viaMailgun.message_id}`, auth: key.secret })).json();
    assert.deepEqual([message.provider, message.provider_message_id], ['mailgun-b', viaMailgun.provider_message_id]);

    // Mailgun: no user variable, only the message-id header (the send answer's id without its brackets), shared by the call's recipients.
    const mailgunEvent = (token: string, signingKey = MAILGUN_KEY) =>
      JSON.stringify({
        signature: mailgunSignature(signingKey, token),
        'event-data': { event: 'failed', severity: 'permanent', recipient: viaMailgun.email, reason: 'bounce', 'delivery-status': { code: 550, description: '5.1.1 mailbox unknown' }, message: { headers: { 'message-id': viaMailgun.provider_message_id!.replace(/^<|>$/g, '') } } },
      });
    const post = (type: string, provider: string, body: string, headers: Record<string, string> = {}) =>
      h.call({ method: 'POST', url: `/v1/events/${type}/${provider}`, auth: null, headers: { 'content-type': 'application/json', ...headers }, payload: body });
    const forged = await post('mailgun', 'mailgun-b', mailgunEvent('token-forged-0001', 'not-the-signing-key-0000'));
    assert.equal(forged.statusCode, 401, forged.body);
    const unchanged = (await h.call({ method: 'GET', url: `/v1/messages/${viaMailgun.message_id}`, auth: key.secret })).json();
    assert.equal(unchanged.status, 'sent');

    const signed = mailgunEvent('token-0000000000000001');
    const accepted = await post('mailgun', 'mailgun-b', signed);
    assert.deepEqual([accepted.statusCode, accepted.json()], [200, { received: 1 }]);
    assert.equal((await post('mailgun', 'mailgun-b', signed)).statusCode, 401, 'a replayed post');
    const bounced = (await h.call({ method: 'GET', url: `/v1/messages/${viaMailgun.message_id}`, auth: key.secret })).json();
    assert.equal(bounced.status, 'bounced');
    const suppression = await h.call({ method: 'GET', url: `/v1/suppressions/${encodeURIComponent(viaMailgun.email!)}`, auth: key.secret });
    assert.equal(suppression.json().reason, 'bounce');

    // SES: a complaint naming only SES's mail.messageId (no tag), through the SNS envelope of the configured topic.
    const complaint = JSON.stringify({
      eventType: 'Complaint',
      complaint: { complainedRecipients: [{ emailAddress: viaSes.email }], complaintFeedbackType: 'abuse', timestamp: new Date().toISOString() },
      mail: { messageId: viaSes.provider_message_id, destination: [viaSes.email] },
    });
    const sesPost = await post('ses', 'ses-a', JSON.stringify(sns.envelope('Notification', complaint)), { 'content-type': 'text/plain; charset=UTF-8' });
    assert.deepEqual([sesPost.statusCode, sesPost.json()], [200, { received: 1 }]);
    const complained = (await h.call({ method: 'GET', url: `/v1/messages/${viaSes.message_id}`, auth: key.secret })).json();
    assert.ok(complained.events.some((e: { type: string }) => e.type === 'complained'), JSON.stringify(complained.events));

    // Only email service providers of the operator have event routes; an unknown name is a 404.
    assert.equal((await post('mailgun', 'outbox', '{}')).statusCode, 404);
    assert.equal((await post('mailgun', 'ses-a', '{}')).statusCode, 404);
    assert.equal((await post('ses', 'nope', '{}')).statusCode, 404);
  });

  it('sends /v1/mail/send through the default provider (MAILERDASH_DEFAULT_PROVIDER=mailgun-b)', async () => {
    const before = mailgun.deliveries.length;
    const res = await h.call({
      method: 'POST',
      url: '/v1/mail/send',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ personalizations: [{ to: [{ email: 'cliente@example.com' }] }], from: { email: 'no-reply@tu-dominio.com' }, subject: 'Hola', content: [{ type: 'text/plain', value: 'Hola' }] }),
      auth: key.secret,
    });
    assert.equal(res.statusCode, 202, res.body);
    await h.workers.drain(100);
    assert.equal(mailgun.deliveries.length, before + 1);
    const [sent] = (await h.call({ method: 'GET', url: `/v1/messages?request_id=${res.headers['x-message-id']}`, auth: key.secret })).json().data;
    assert.deepEqual([sent.status, sent.provider, sent.provider_message_id], ['sent', 'mailgun-b', mailgun.deliveries.at(-1)!.id]);
  });

  it('a key\'s own provider (/v1/providers) routes in its batches, for that key only, and its events match by MessageID', async () => {
    const token = 'postmark-token-0123456789abcdef';
    const created = await h.call({ method: 'POST', url: '/v1/providers', auth: key.secret, payload: { name: 'my-pm', type: 'postmark', config: { server_token: 'pm-good', base_url: postmark.url, webhook_token: token } } });
    assert.equal(created.statusCode, 201, created.body);
    const other = await h.newKey('other', ['tu-dominio.com']);
    const refused = await h.call({
      method: 'POST',
      url: '/v1/batches',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'not-mine' },
      payload: JSON.stringify({ from: { email: 'news@tu-dominio.com' }, subject: 'x', content: [{ type: 'text/plain', value: 'x' }], recipients: [{ email: 'a@example.com' }], provider_policy: { providers: ['my-pm'], strategy: 'failover' } }),
      auth: other.secret,
    });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json().errors[0].code, 'unknown_provider');

    const res = await submit('own-provider', Array.from({ length: 5 }, (_, i) => `own${i}@example.com`), ['my-pm']);
    assert.equal(res.statusCode, 202, res.body);
    await h.workers.drain(1000);
    const exported = (await h.call({ method: 'GET', url: `/v1/batches/${res.json().id}/recipients?format=ndjson`, auth: key.secret })).body.trim().split('\n').map((line) => JSON.parse(line));
    const sentTo = new Map(postmark.sent.map((m) => [m.To, m.MessageID]));
    for (const row of exported) assert.deepEqual([row.status, row.provider, row.provider_message_id], ['sent', 'my-pm', sentTo.get(row.email)]);

    const bounce = JSON.stringify({ RecordType: 'Bounce', ID: 7, Type: 'HardBounce', Email: exported[0].email, MessageID: exported[0].provider_message_id, Details: 'smtp;550 5.1.1 unknown' });
    const posted = await h.call({ method: 'POST', url: `/v1/events/postmark/${created.json().id}`, auth: null, headers: { 'content-type': 'application/json', 'x-webhook-token': token }, payload: bounce });
    assert.deepEqual([posted.statusCode, posted.json()], [200, { received: 1 }]);
    assert.equal((await h.call({ method: 'GET', url: `/v1/messages/${exported[0].message_id}`, auth: key.secret })).json().status, 'bounced');
  });
});
