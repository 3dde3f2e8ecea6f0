import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRecipientBounce } from '../smtp-outcome.ts';
import { providerMessage } from '../../../test/support/providers/messages.ts';
import { startSendgridFake } from '../../../test/support/providers/sendgrid-server.ts';
import { createSendgridTransport, parseSendgridConfig, refusedPersonalizations, SENDGRID_MESSAGE_ARG, sendgridOutcome } from './transport.ts';

const KEY = 'SG.test-key.0123456789';

describe('SendGrid transport (@sendgrid/client against SendGrid v3 on loopback)', () => {
  let fake: Awaited<ReturnType<typeof startSendgridFake>>;
  before(async () => {
    fake = await startSendgridFake({ keys: new Set([KEY]), invalid: new Set(['refused@example.test']) });
  });
  after(() => fake.close());
  const transport = (key = KEY) => createSendgridTransport(parseSendgridConfig({ type: 'sendgrid', api_key: key, base_url: fake.url }));

  it('shared content goes as 1,000 personalizations a call, each with its own List-Unsubscribe and message id', async () => {
    const calls = fake.state.calls;
    const messages = Array.from({ length: 1500 }, (_, i) => providerMessage(`msg_${i}`, `r${i}@example.test`, { shared: true }));
    const results = await transport().sendBatch!(messages);
    assert.equal(fake.state.calls - calls, 2);
    assert.ok(results.every((r) => r.outcome === 'accepted'), results.find((r) => r.outcome !== 'accepted')?.reply);
    const [first, second] = fake.accepted.slice(-2).sort((a, b) => b.mail.personalizations.length - a.mail.personalizations.length);
    assert.deepEqual([first!.mail.personalizations.length, second!.mail.personalizations.length], [1000, 500]);
    const p = first!.mail.personalizations.find((x) => x.to?.[0]?.email === 'r3@example.test')!;
    assert.deepEqual(p.custom_args, { [SENDGRID_MESSAGE_ARG]: 'msg_3' });
    assert.match(p.headers!['List-Unsubscribe']!, /\/u\/msg_3>/);
    assert.equal(first!.mail.headers!['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    assert.equal(first!.mail.from.name, 'News Desk');
    assert.equal(results[3]!.providerMessageId, fake.accepted.find((a) => a.mail.personalizations.some((x) => x.to?.[0]?.email === 'r3@example.test'))!.messageId);
  });

  it('messages with their own links each take a call of their own', async () => {
    const calls = fake.state.calls;
    const results = await transport().sendBatch!(Array.from({ length: 5 }, (_, i) => providerMessage(`own_${i}`, `o${i}@example.test`)));
    assert.equal(fake.state.calls - calls, 5);
    assert.ok(results.every((r) => r.outcome === 'accepted'));
    assert.match(fake.accepted.at(-1)!.mail.content.find((c) => c.type === 'text/html')!.value, /\/c\/own_\d/);
  });

  it('a refused recipient of a shared call bounces; the rest go out in one more call', async () => {
    const calls = fake.state.calls;
    const messages = ['a@example.test', 'refused@example.test', 'b@example.test'].map((to, i) => providerMessage(`m${i}`, to, { shared: true }));
    const results = await transport().sendBatch!(messages);
    assert.equal(fake.state.calls - calls, 2);
    assert.deepEqual(results.map((r) => r.outcome), ['accepted', 'permanent', 'accepted']);
    assert.ok(isRecipientBounce(results[1]!));
    assert.match(results[1]!.reply, /Does not contain a valid address/);
    assert.deepEqual(fake.accepted.at(-1)!.mail.personalizations.map((p) => p.to![0]!.email), ['a@example.test', 'b@example.test']);
  });

  it('429 and a revoked key are deferred, never bounces; check() reads /v3/scopes', async () => {
    fake.state.throttle = true;
    try {
      const result = await transport().send(providerMessage('t', 't@example.test'));
      assert.equal(result.outcome, 'temporary');
      assert.match(result.reply, /^sendgrid 429 too many requests/);
    } finally {
      fake.state.throttle = false;
    }
    const bad = await transport('SG.wrong').send(providerMessage('u', 'u@example.test'));
    assert.deepEqual([bad.outcome, isRecipientBounce(bad)], ['temporary', false]);
    assert.match(bad.reply, /^sendgrid 401 /);
    assert.equal((await transport('SG.wrong').check()).ok, false);
    assert.deepEqual(await transport().check(), { ok: true, detail: 'sendgrid 200: 2 scopes, mail.send among them' });
  });

  it('maps whole-call answers and reads refused personalizations (pure)', () => {
    assert.equal(sendgridOutcome(413, undefined).outcome, 'permanent');
    assert.equal(sendgridOutcome(503, undefined).outcome, 'temporary');
    assert.equal(sendgridOutcome(403, { errors: [{ message: 'The from address does not match a verified Sender Identity.' }] }).outcome, 'temporary');
    assert.deepEqual([...refusedPersonalizations({ errors: [{ field: 'personalizations.12.to.0.email', message: 'x' }, { field: 'from', message: 'y' }] }).keys()], [12]);
  });
});
