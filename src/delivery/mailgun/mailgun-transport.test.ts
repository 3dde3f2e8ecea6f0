import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRecipientBounce } from '../smtp-outcome.ts';
import { providerMessage } from '../../../test/support/providers/messages.ts';
import { startMailgunFake } from '../../../test/support/providers/mailgun-server.ts';
import { createMailgunTransport, mailgunBaseUrl, mailgunOutcome, MAILGUN_MESSAGE_VARIABLE, parseMailgunConfig } from './transport.ts';

const KEY = 'key-0123456789abcdef';

describe('Mailgun transport (mailgun.js against Mailgun on loopback)', () => {
  let fake: Awaited<ReturnType<typeof startMailgunFake>>;
  before(async () => {
    fake = await startMailgunFake({ keys: new Set([KEY]), domains: new Set(['mg.example.test']), invalid: new Set(['refused@example.test']) });
  });
  after(() => fake.close());
  const transport = (key = KEY, domain = 'mg.example.test') => createMailgunTransport(parseMailgunConfig({ type: 'mailgun', api_key: key, domain, region: 'eu', base_url: fake.url }));

  it('shared content: 1,000 recipients a call with recipient-variables carrying each List-Unsubscribe and message id', async () => {
    const calls = fake.state.calls;
    const results = await transport().sendBatch!(Array.from({ length: 1200 }, (_, i) => providerMessage(`msg_${i}`, `r${i}@example.test`, { shared: true })));
    assert.equal(fake.state.calls - calls, 2);
    assert.ok(results.every((r) => r.outcome === 'accepted'), results.find((r) => r.outcome !== 'accepted')?.reply);
    const got = fake.deliveries.find((d) => d.to === 'r5@example.test')!;
    assert.equal(results[5]!.providerMessageId, got.id);
    assert.equal(got.fields[`v:${MAILGUN_MESSAGE_VARIABLE}`], 'msg_5');
    assert.match(got.fields['h:List-Unsubscribe']!, /\/u\/msg_5>/);
    assert.equal(got.fields['h:List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    assert.equal(got.fields['o:tracking'], 'no');
    assert.equal(got.fields.subject, 'Weekly news');
  });

  it('a message of its own goes as its raw MIME to /messages.mime', async () => {
    const message = providerMessage('own_1', 'o1@example.test');
    const result = await transport().send(message);
    assert.equal(result.outcome, 'accepted', result.reply);
    const got = fake.deliveries.at(-1)!;
    assert.deepEqual(got.mime, message.raw);
    assert.equal(got.fields[`v:${MAILGUN_MESSAGE_VARIABLE}`], 'own_1');
  });

  it('a refused address inside a batch: the batch is resent one by one, only that recipient bounces', async () => {
    const results = await transport().sendBatch!(['a@example.test', 'refused@example.test', 'b@example.test'].map((to, i) => providerMessage(`m${i}`, to, { shared: true })));
    assert.deepEqual(results.map((r) => r.outcome), ['accepted', 'permanent', 'accepted']);
    assert.ok(isRecipientBounce(results[1]!));
    assert.match(results[1]!.reply, /not a valid address/);
  });

  it('429 and a wrong key (401 Forbidden) are deferred; check() looks the domain up', async () => {
    fake.state.throttle = true;
    try {
      const result = await transport().send(providerMessage('t', 't@example.test'));
      assert.deepEqual([result.outcome, result.reply.startsWith('mailgun 429')], ['temporary', true]);
    } finally {
      fake.state.throttle = false;
    }
    const bad = await transport('key-wrong').send(providerMessage('u', 'u@example.test'));
    assert.deepEqual([bad.outcome, isRecipientBounce(bad)], ['temporary', false]);
    assert.match(bad.reply, /^mailgun 401/);
    assert.equal((await transport('key-wrong').check()).ok, false);
    assert.equal((await transport(KEY, 'other.example.test').check()).ok, false);
    assert.deepEqual(await transport().check(), { ok: true, detail: 'mailgun eu domain mg.example.test: active' });
  });

  it('picks the region host: US by default, EU on request, an override above both', () => {
    const base = { type: 'mailgun' as const, api_key: KEY, domain: 'mg.example.test' };
    assert.equal(mailgunBaseUrl(parseMailgunConfig(base)), 'https://api.mailgun.net');
    assert.equal(mailgunBaseUrl(parseMailgunConfig({ ...base, region: 'eu' })), 'https://api.eu.mailgun.net');
    assert.equal(mailgunBaseUrl(parseMailgunConfig({ ...base, region: 'eu', base_url: 'http://127.0.0.1:1/' })), 'http://127.0.0.1:1');
    assert.throws(() => parseMailgunConfig({ ...base, region: 'ap' }));
  });

  it('maps Mailgun answers (pure)', () => {
    assert.equal(mailgunOutcome(400, "'to' parameter is not a valid address", false).stage, 'local');
    assert.equal(mailgunOutcome(413, 'too large', true).outcome, 'permanent');
    assert.equal(mailgunOutcome(502, 'bad gateway', true).outcome, 'temporary');
    assert.equal(mailgunOutcome(0, 'ECONNRESET', true).outcome, 'temporary');
  });
});
