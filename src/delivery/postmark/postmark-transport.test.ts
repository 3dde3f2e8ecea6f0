import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRecipientBounce } from '../smtp-outcome.ts';
import { providerMessage } from '../../../test/support/providers/messages.ts';
import { startPostmarkFake } from '../../../test/support/providers/postmark-server.ts';
import { createPostmarkTransport, parsePostmarkConfig, postmarkOutcome, POSTMARK_MESSAGE_KEY } from './transport.ts';

const TOKEN = 'server-token-0000-1111';

describe('Postmark transport (the postmark client against Postmark on loopback)', () => {
  let fake: Awaited<ReturnType<typeof startPostmarkFake>>;
  before(async () => {
    fake = await startPostmarkFake({ tokens: new Set([TOKEN]), inactive: new Set(['gone@example.test']) });
  });
  after(() => fake.close());
  const transport = (token = TOKEN) => createPostmarkTransport(parsePostmarkConfig({ type: 'postmark', server_token: token, base_url: fake.url }));

  it('sends 1,200 messages in 3 batch calls (500 a call), each with its own links, headers and message id', async () => {
    const postmark = transport();
    const calls = fake.state.calls;
    const messages = Array.from({ length: 1200 }, (_, i) => providerMessage(`msg_${i}`, `r${i}@example.test`));
    const results = await postmark.sendBatch!(messages);
    assert.equal(fake.state.calls - calls, 3);
    assert.ok(results.every((r) => r.outcome === 'accepted'), results.find((r) => r.outcome !== 'accepted')?.reply);
    const first = fake.sent.find((m) => m.To === 'r7@example.test')!;
    assert.equal(results[7]!.providerMessageId, first.MessageID);
    assert.equal(first.From, '"News Desk" <news@example.test>');
    assert.equal(first.Subject, 'Weekly news');
    assert.match(String(first.HtmlBody), /t\.example\.test\/c\/msg_7/);
    assert.deepEqual(first.Metadata, { [POSTMARK_MESSAGE_KEY]: 'msg_7' });
    const headers = first.Headers as Array<{ Name: string; Value: string }>;
    assert.ok(headers.some((h) => h.Name === 'List-Unsubscribe' && h.Value.includes('/u/msg_7')), JSON.stringify(headers));
    assert.equal(first.TrackLinks, 'None');
  });

  it('an inactive recipient (ErrorCode 406) bounces inside a batch; its neighbours are sent', async () => {
    const results = await transport().sendBatch!([providerMessage('a', 'ok1@example.test'), providerMessage('b', 'gone@example.test'), providerMessage('c', 'ok2@example.test')]);
    assert.deepEqual(results.map((r) => r.outcome), ['accepted', 'permanent', 'accepted']);
    assert.ok(isRecipientBounce(results[1]!));
    assert.match(results[1]!.reply, /^postmark 200 406 You tried to send/);
  });

  it('a 429 defers the whole batch, and so does a bad server token (never a bounce)', async () => {
    fake.state.throttle = true;
    try {
      const throttled = await transport().sendBatch!([providerMessage('a', 'x@example.test'), providerMessage('b', 'y@example.test')]);
      assert.deepEqual(throttled.map((r) => r.outcome), ['temporary', 'temporary']);
      assert.match(throttled[0]!.reply, /^postmark 429 429 Rate limit exceeded/);
    } finally {
      fake.state.throttle = false;
    }
    const bad = transport('wrong-token');
    const refused = await bad.send(providerMessage('c', 'z@example.test'));
    assert.deepEqual([refused.outcome, isRecipientBounce(refused)], ['temporary', false]);
    assert.match(refused.reply, /^postmark 401 10 /);
    assert.equal((await bad.check()).ok, false);
    const good = await transport().check();
    assert.deepEqual(good, { ok: true, detail: 'postmark server 1 Fake Server' });
  });

  it('maps Postmark error codes (pure)', () => {
    assert.equal(postmarkOutcome(422, 300, 'Invalid email request').stage, 'local');
    assert.equal(postmarkOutcome(422, 400, 'Sender signature not found').stage, 'mail');
    assert.equal(postmarkOutcome(422, 412, 'Account is pending').outcome, 'temporary');
    assert.equal(postmarkOutcome(503, 0, 'unavailable').outcome, 'temporary');
    assert.equal(postmarkOutcome(0, 0, 'ECONNREFUSED').outcome, 'temporary');
  });
});
