import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { mailgunSignature, sendgridKeyPair, startSnsTopic } from '../../../test/support/providers/event-signers.ts';
import type { FeedbackReport } from './feedback.ts';

const MAILGUN_KEY = 'mailgun-signing-key-0123456789';
const sesBounce = (recipient: string, type = 'Permanent') =>
  JSON.stringify({
    eventType: 'Bounce',
    bounce: { bounceType: type, bounceSubType: 'General', bouncedRecipients: [{ emailAddress: recipient, action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }], timestamp: '2026-12-01T23:00:00.000Z' },
    mail: { messageId: '0100019abc-ses', destination: [recipient], tags: { mailerdash_message_id: ['msg_ses1'] } },
  });

describeEachEngine('provider event webhooks', (engine) => {
  let h: Harness;
  let sns: Awaited<ReturnType<typeof startSnsTopic>>;
  const applied: FeedbackReport[][] = [];
  let failApply = false;
  const sendgrid = sendgridKeyPair();
  const ids: Record<string, string> = {};
  let keyId = '';

  before(async () => {
    sns = await startSnsTopic();
    h = await startHarness(engine, { MAILERDASH_SNS_CERT_URL_PATTERN: `^${sns.url.replace(/[.]/g, '\\.')}/` }, {
      applyFeedback: async (db, reports) => {
        // Runs inside the receipt's transaction: a throw here must leave the token unrecorded.
        await db.selectFrom('provider_event_receipts').select('token').execute();
        if (failApply) throw new Error('effects path down');
        applied.push(reports);
      },
    });
    const tenant = await h.newKey('tenant');
    keyId = tenant.id;
    const create = async (name: string, type: string, config: Record<string, unknown>) => {
      const response = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name, type, config } });
      assert.equal(response.statusCode, 201, response.body);
      ids[type] = response.json().id;
    };
    await create('ses-a', 'ses', { region: 'eu-west-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 's', sns_topic_arn: sns.topicArn });
    await create('sg', 'sendgrid', { api_key: 'SG.x', webhook_public_key: sendgrid.publicKey });
    await create('mg', 'mailgun', { api_key: 'key-x', domain: 'mg.example.test', webhook_signing_key: MAILGUN_KEY });
    await create('pm', 'postmark', { server_token: 'pm', webhook_username: 'hooks', webhook_password: 'correct-horse', webhook_token: 'postmark-token-0123456789' });
  });
  after(async () => {
    await h.close();
    await sns.close();
  });
  beforeEach(() => {
    applied.length = 0;
    failApply = false;
  });

  const post = (type: string, body: string, headers: Record<string, string> = {}, provider = ids[type]) =>
    h.call({ method: 'POST', url: `/v1/events/${type}/${provider}`, auth: null, headers: { 'content-type': 'application/json', ...headers }, payload: body });
  const receipts = async () => Number((await h.database.db.selectFrom('provider_event_receipts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('SES: a signed SNS notification becomes a hard bounce of our message; a replay of it changes nothing', async () => {
    const envelope = JSON.stringify(sns.envelope('Notification', sesBounce('gone@example.test')));
    const response = await post('ses', envelope, { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' });
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { received: 1 });
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0]![0], {
      messageId: 'msg_ses1', keyId, recipient: 'gone@example.test', kind: 'hard_bounce', reason: 'Permanent/General', diagnostic: 'smtp; 550 5.1.1 user unknown', status: '5.1.1', source: 'ses',
      detail: { provider_message_id: '0100019abc-ses', event_type: 'Bounce' },
    });
    const again = await post('ses', envelope, { 'content-type': 'text/plain; charset=UTF-8' });
    assert.deepEqual([again.statusCode, again.json()], [200, { received: 0, duplicate: true }]);
    assert.equal(applied.length, 1);
    const soft = await post('ses', JSON.stringify(sns.envelope('Notification', sesBounce('full@example.test', 'Transient'), { version: '1' })));
    assert.equal(soft.statusCode, 200, soft.body);
    assert.equal(applied[1]![0]!.kind, 'soft_bounce');
  });

  it('SES: forged, altered, stale and off-host envelopes are 401s that change nothing', async () => {
    const before = await receipts();
    const forged = sns.envelope('Notification', sesBounce('a@example.test'), { signWith: sns.otherKey() });
    const altered = { ...sns.envelope('Notification', sesBounce('a@example.test')), Message: sesBounce('b@example.test') };
    const stale = sns.envelope('Notification', sesBounce('a@example.test'), { timestamp: new Date(Date.now() - 3 * 3600_000).toISOString() });
    const fetches = sns.state.certFetches;
    const offHost = sns.envelope('Notification', sesBounce('a@example.test'), { certUrl: 'https://evil.example.test/SimpleNotificationService-0123.pem' });
    for (const body of [forged, altered, stale, offHost]) {
      const response = await post('ses', JSON.stringify(body));
      assert.equal(response.statusCode, 401, response.body);
      assert.equal(response.json().errors[0].code, 'event_signature_invalid');
    }
    assert.ok(sns.state.certFetches <= fetches + 1, 'the off-host certificate is never fetched');
    assert.equal((await post('ses', '{"Type":"Notification"}')).statusCode, 401);
    assert.deepEqual([applied.length, await receipts()], [0, before]);
  });

  it('SES: a SubscriptionConfirmation is verified, then confirmed by fetching its SubscribeURL', async () => {
    const envelope = sns.envelope('SubscriptionConfirmation', 'You have chosen to subscribe to the topic.');
    const response = await post('ses', JSON.stringify(envelope), { 'content-type': 'text/plain; charset=UTF-8' });
    assert.deepEqual([response.statusCode, response.json()], [200, { received: 0, confirmed: true }]);
    assert.deepEqual(sns.state.confirmations, [envelope.Token]);
    const forged = { ...sns.envelope('SubscriptionConfirmation', 'x'), SubscribeURL: 'http://169.254.169.254/latest' };
    assert.equal((await post('ses', JSON.stringify(forged))).statusCode, 401);
    assert.equal(sns.state.confirmations.length, 1);
  });

  it('SendGrid: a signed batch maps each event; forged, altered, stale and replayed posts are 401s', async () => {
    const body = JSON.stringify([
      { email: 'a@example.test', event: 'delivered', sg_message_id: 'sg1.filter', sg_event_id: 'e1', mailerdash_message_id: 'msg_a', timestamp: 1 },
      { email: 'b@example.test', event: 'bounce', type: 'bounce', reason: '550 5.1.1 unknown', status: '5.1.1', sg_message_id: 'sg2', mailerdash_message_id: 'msg_b' },
      { email: 'c@example.test', event: 'bounce', type: 'blocked', reason: '421 try later', mailerdash_message_id: 'msg_c' },
      { email: 'd@example.test', event: 'spamreport', mailerdash_message_id: 'msg_d' },
      { email: 'e@example.test', event: 'click', url: 'https://x.test', mailerdash_message_id: 'msg_e' },
      { email: 'f@example.test', event: 'processed' },
    ]);
    const headers = sendgrid.headers(body);
    const response = await post('sendgrid', body, headers);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(applied[0]!.map((r) => [r.messageId, r.kind]), [['msg_a', 'delivered'], ['msg_b', 'hard_bounce'], ['msg_c', 'soft_bounce'], ['msg_d', 'complaint'], ['msg_e', 'clicked']]);
    const before = await receipts();
    const other = sendgridKeyPair();
    assert.equal((await post('sendgrid', body, other.headers(body))).statusCode, 401, 'forged');
    assert.equal((await post('sendgrid', body.replace('msg_b', 'msg_x'), headers)).statusCode, 401, 'altered');
    assert.equal((await post('sendgrid', body, sendgrid.headers(body, String(Math.floor(Date.now() / 1000) - 7200)))).statusCode, 401, 'stale');
    assert.equal((await post('sendgrid', body, headers)).statusCode, 401, 'replayed');
    assert.equal((await post('sendgrid', body)).statusCode, 401, 'unsigned');
    assert.deepEqual([applied.length, await receipts()], [1, before]);
  });

  it('Mailgun: HMAC-signed events map; a replayed token is refused from the database; forged and altered are 401s', async () => {
    const event = (token: string, data: Record<string, unknown>, signature = mailgunSignature(MAILGUN_KEY, token)) => JSON.stringify({ signature, 'event-data': data });
    const failed = { event: 'failed', severity: 'permanent', recipient: 'gone@example.test', reason: 'bounce', 'delivery-status': { code: 550, 'enhanced-code': '5.1.1', description: 'No such user' }, 'user-variables': { mailerdash_message_id: 'msg_m1' }, message: { headers: { 'message-id': 'abc@mg.example.test' } } };
    const body = event('token-1', failed);
    assert.equal((await post('mailgun', body)).statusCode, 200);
    assert.deepEqual(applied[0], [{ messageId: 'msg_m1', keyId, recipient: 'gone@example.test', kind: 'hard_bounce', reason: 'bounce', status: '5.1.1', diagnostic: 'No such user', source: 'mailgun', detail: { provider_message_id: 'abc@mg.example.test', event: 'failed' } }]);
    const replay = await post('mailgun', body);
    assert.equal(replay.statusCode, 401);
    assert.match(replay.json().errors[0].message, /replay/);
    assert.equal((await post('mailgun', event('token-2', failed, mailgunSignature('not-the-key-0123456789', 'token-2')))).statusCode, 401, 'forged');
    assert.equal((await post('mailgun', body.replace('permanent', 'temporary').replace('token-1', 'token-1'))).statusCode, 401, 'replayed token with an altered body');
    const signature = mailgunSignature(MAILGUN_KEY, 'token-3');
    assert.equal((await post('mailgun', JSON.stringify({ signature: { ...signature, token: 'token-4' }, 'event-data': failed }))).statusCode, 401, 'altered token');
    assert.equal((await post('mailgun', event('token-5', failed, mailgunSignature(MAILGUN_KEY, 'token-5', String(Math.floor(Date.now() / 1000) - 7200))))).statusCode, 401, 'stale');
    assert.equal(applied.length, 1);
    const soft = await post('mailgun', event('token-6', { ...failed, severity: 'temporary' }));
    assert.equal(soft.statusCode, 200);
    assert.equal(applied[1]![0]!.kind, 'soft_bounce');
  });

  it('a failing effects path answers a 5xx and records no token: the provider retry is taken', async () => {
    failApply = true;
    const body = JSON.stringify({ signature: mailgunSignature(MAILGUN_KEY, 'token-retry'), 'event-data': { event: 'delivered', recipient: 'a@example.test' } });
    const first = await post('mailgun', body);
    assert.ok(first.statusCode >= 500, `${first.statusCode} ${first.body}`);
    failApply = false;
    assert.equal((await post('mailgun', body)).statusCode, 200);
    assert.equal(applied[0]![0]!.kind, 'delivered');
  });

  it('Postmark: basic auth or the secret token; a wrong one is a 401', async () => {
    const bounce = JSON.stringify({ RecordType: 'Bounce', ID: 42, Type: 'HardBounce', TypeCode: 1, Email: 'gone@example.test', MessageID: 'pm-1', Details: 'smtp;550 5.1.1', Metadata: { mailerdash_message_id: 'msg_p1' } });
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    assert.equal((await post('postmark', bounce, basic('hooks', 'correct-horse'))).statusCode, 200);
    assert.deepEqual(applied[0]![0]!, { messageId: 'msg_p1', keyId, recipient: 'gone@example.test', kind: 'hard_bounce', reason: 'HardBounce', diagnostic: 'smtp;550 5.1.1', source: 'postmark', detail: { provider_message_id: 'pm-1', record_type: 'Bounce', bounce_id: '42' } });
    const open = JSON.stringify({ RecordType: 'Open', Recipient: 'a@example.test', MessageID: 'pm-2', Metadata: { mailerdash_message_id: 'msg_p2' } });
    assert.equal((await post('postmark', open, { 'x-webhook-token': 'postmark-token-0123456789' })).statusCode, 200);
    assert.equal(applied[1]![0]!.kind, 'opened');
    // Postmark signs nothing: the same body again (a retry, or a replay) is taken once.
    const replayed = await post('postmark', bounce, basic('hooks', 'correct-horse'));
    assert.deepEqual([replayed.statusCode, replayed.json()], [200, { received: 0, duplicate: true }]);
    assert.equal((await post('postmark', open, basic('hooks', 'wrong-horse'))).statusCode, 401);
    assert.equal((await post('postmark', open, { 'x-webhook-token': 'guess' })).statusCode, 401);
    assert.equal((await post('postmark', open)).statusCode, 401);
    assert.equal(applied.length, 2);
  });

  it('an unknown provider, or one posted to under another type, is a 404', async () => {
    assert.equal((await post('postmark', '{}', {}, 'prv_nope')).statusCode, 404);
    assert.equal((await post('mailgun', '{}', {}, ids.postmark)).statusCode, 404);
  });
});
