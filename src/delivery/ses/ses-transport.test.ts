import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRecipientBounce } from '../smtp-outcome.ts';
import { startSesFake } from '../../../test/support/providers/ses-server.ts';
import { createSesTransport, parseSesConfig, sesOutcome, SES_MESSAGE_TAG } from './transport.ts';

const KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const raw = (to: string) => Buffer.from(`From: a@example.test\r\nTo: ${to}\r\nSubject: hi\r\nDKIM-Signature: v=1; d=example.test; b=ours\r\n\r\nbody\r\n`);
const message = (id: string, to: string) => ({ id, envelopeFrom: `b-${id}@bounce.test`, recipient: to, raw: raw(to) });

describe('SES v2 transport (the AWS SDK against a SigV4-checking SES on loopback)', () => {
  let fake: Awaited<ReturnType<typeof startSesFake>>;
  before(async () => {
    fake = await startSesFake({ region: 'eu-west-1', credentials: { [KEY]: SECRET }, rejected: new Set(['unverified@example.test']) });
  });
  after(() => fake.close());
  const transport = (secret = SECRET, region = 'eu-west-1') => createSesTransport(parseSesConfig({ type: 'ses', region, access_key_id: KEY, secret_access_key: secret, base_url: fake.url }));

  it('sends the raw MIME untouched, tagged with our message id, and keeps the SES MessageId', async () => {
    const ses = transport();
    const result = await ses.send(message('msg_1', 'r@example.test'));
    assert.equal(result.outcome, 'accepted', result.reply);
    const stored = fake.sent.at(-1)!;
    assert.equal(result.providerMessageId, stored.id);
    assert.deepEqual(stored.raw, raw('r@example.test'));
    assert.deepEqual(stored.to, ['r@example.test']);
    assert.deepEqual(stored.tags, [{ Name: SES_MESSAGE_TAG, Value: 'msg_1' }]);
    await ses.close();
  });

  it('a recipient SES rejects is a bounce; the others still go', async () => {
    const ses = transport();
    const [refused, fine] = await Promise.all([ses.send(message('msg_2', 'unverified@example.test')), ses.send(message('msg_3', 'ok@example.test'))]);
    assert.deepEqual([refused!.outcome, isRecipientBounce(refused!)], ['permanent', true]);
    assert.match(refused!.reply, /MessageRejected .*unverified@example\.test/);
    assert.equal(fine!.outcome, 'accepted');
    await ses.close();
  });

  it('throttling (429 TooManyRequestsException) and 503 are deferred, in one call each (no SDK retries)', async () => {
    const ses = transport();
    try {
      fake.state.throttle = true;
      const before = fake.state.sendCalls;
      const result = await ses.send(message('msg_4', 'r@example.test'));
      assert.deepEqual([result.outcome, isRecipientBounce(result)], ['temporary', false]);
      assert.match(result.reply, /^ses 429 TooManyRequestsException/);
      assert.equal(fake.state.sendCalls - before, 1);
      fake.state.throttle = false;
      fake.state.unavailable = true;
      assert.equal((await ses.send(message('msg_5', 'r@example.test'))).outcome, 'temporary');
    } finally {
      fake.state.throttle = false;
      fake.state.unavailable = false;
      await ses.close();
    }
  });

  it('a wrong secret fails the SigV4 check: deferred (another provider may send it), never a bounce', async () => {
    const ses = transport('not-the-secret');
    const result = await ses.send(message('msg_6', 'r@example.test'));
    assert.deepEqual([result.outcome, isRecipientBounce(result)], ['temporary', false]);
    assert.match(result.reply, /403 SignatureDoesNotMatch/);
    const check = await ses.check();
    assert.equal(check.ok, false);
    await ses.close();
  });

  it('a client signing for another region is refused; check() answers the account with the right one', async () => {
    const wrongRegion = transport(SECRET, 'us-east-1');
    assert.match((await wrongRegion.send(message('msg_7', 'r@example.test'))).reply, /SignatureDoesNotMatch/);
    await wrongRegion.close();
    const ses = transport();
    const check = await ses.check();
    assert.equal(check.ok, true, check.detail);
    assert.match(check.detail, /^ses eu-west-1: sending enabled/);
    await ses.close();
  });

  it('maps SES errors by name (pure)', () => {
    const of = (name: string, status: number) => sesOutcome({ name, message: 'x', $metadata: { httpStatusCode: status } });
    assert.equal(of('LimitExceededException', 400).outcome, 'temporary');
    assert.equal(of('AccountSuspendedException', 400).outcome, 'temporary');
    assert.deepEqual([of('MailFromDomainNotVerifiedException', 400).outcome, of('MailFromDomainNotVerifiedException', 400).stage], ['permanent', 'mail']);
    assert.equal(of('BadRequestException', 400).stage, 'local');
    assert.equal(of('InternalFailure', 500).outcome, 'temporary');
    assert.equal(sesOutcome({ name: 'TimeoutError', message: 'socket hang up' }).outcome, 'temporary');
  });

  it('refuses a configuration with a bad region or unknown fields, naming them', () => {
    assert.throws(() => parseSesConfig({ type: 'ses', region: 'mars', access_key_id: KEY, secret_access_key: SECRET }), /region/);
    assert.throws(() => parseSesConfig({ type: 'ses', region: 'eu-west-1', access_key_id: KEY, secret_access_key: SECRET, colour: 'red' }));
  });
});
