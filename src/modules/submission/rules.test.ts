import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAddress, type ParsedAddress } from '../../lib/email-address.ts';
import { mxReply, parseSmtpApi, planSubmission } from './rules.ts';
import { queuedReply } from './service.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const address = (a: string) => (checkAddress(a) as { ok: true; value: ParsedAddress }).value;
const message = (headers: string[], body = 'body') => Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}\r\n`);

describe('submission rules', () => {
  it('reads X-SMTPAPI as far as the API has the fields', () => {
    const parsed = parseSmtpApi(JSON.stringify({ category: 'one', unique_args: { n: 1, s: 'x' }, send_at: 1, filters: { opentrack: { settings: { enable: '1' } } }, unknown: true }));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.categories, ['one']);
    assert.deepEqual(parsed.value.uniqueArgs, { n: '1', s: 'x' });
    assert.deepEqual(parsed.value.tracking, { open: true });
    for (const [value, why] of [['{', /not valid JSON/], ['[1]', /JSON object/], ['{"asm_group_id":3}', /asm_group_id is not supported/], ['{"to":"a@b.c"}', /array of addresses/], ['{"sub":{"-x-":"y"}}', /array of strings/], ['{"send_at":"soon"}', /unix time/]] as const) {
      const refused = parseSmtpApi(value);
      assert.ok(!refused.ok);
      assert.equal(refused.reply.code, 550);
      assert.match(refused.reply.text, why);
    }
  });

  it('needs exactly one From address; refuses an unknown channel and a send_at beyond 72 h', () => {
    const envelope = [address('a@example.com')];
    const no = planSubmission(message(['To: a@example.com']), envelope, NOW);
    assert.ok(!no.ok && no.reply.text.startsWith('5.7.1'));
    assert.ok(!planSubmission(message(['From: a@x.test, b@x.test']), envelope, NOW).ok);
    const channel = planSubmission(message(['From: a@x.test', 'X-Md-Channel: promo']), envelope, NOW);
    assert.ok(!channel.ok && /X-Md-Channel/.test(channel.reply.text));
    const later = planSubmission(message(['From: a@x.test', `X-SMTPAPI: {"send_at": ${NOW.getTime() / 1000 + 73 * 3600}}`]), envelope, NOW);
    assert.ok(!later.ok && /72 hours/.test(later.reply.text));
  });

  it('one copy per envelope recipient, duplicates once; X-SMTPAPI to replaces them, with sub by position', () => {
    const plain = planSubmission(message(['From: "Shop" <shop@x.test>', 'Bcc: c@example.com', 'Subject: s']), [address('a@example.com'), address('A@example.com'), address('c@example.com')], NOW);
    assert.ok(plain.ok);
    assert.deepEqual(plain.plan.copies.map((c) => c.recipient.address), ['a@example.com', 'c@example.com']);
    assert.equal(plain.plan.fromName, 'Shop');
    assert.doesNotMatch(plain.plan.stored.toString(), /Bcc/i, 'the stored message has no Bcc header');
    const api = planSubmission(
      message(['From: shop@x.test', 'X-SMTPAPI: {"to": ["Ann <ann@example.com>", "bob@example.org"],', ' "sub": {"%n%": ["Ann", "Bob"]}, "send_at": 1796220000}', 'X-Md-Channel: bulk']),
      [address('ignored@example.com')],
      NOW,
    );
    assert.ok(api.ok);
    assert.deepEqual(api.plan.copies.map((c) => [c.recipient.address, c.personalization]), [
      ['ann@example.com', { substitutions: { '%n%': 'Ann' }, to: [{ email: 'ann@example.com', name: 'Ann' }] }],
      ['bob@example.org', { substitutions: { '%n%': 'Bob' }, to: [{ email: 'bob@example.org' }] }],
    ]);
    assert.deepEqual(api.plan.unchecked.map((a) => a.address), ['ann@example.com', 'bob@example.org']);
    assert.equal(api.plan.channel, 'bulk');
    assert.equal(api.plan.settings.list_unsubscribe, true);
    assert.equal(api.plan.dueAt.getTime(), 1796220000 * 1000);
    assert.doesNotMatch(api.plan.stored.toString(), /X-SMTPAPI|X-Md-Channel/i);
    const disposable = planSubmission(message(['From: shop@x.test', 'X-SMTPAPI: {"to": ["x@mailinator.com"]}']), [], NOW);
    assert.ok(!disposable.ok && /^5\.1\.0 disposable: .*\(X-SMTPAPI to\)$/.test(disposable.reply.text));
  });

  it('an MX verdict: undeliverable is 550 5.1.2, DNS trouble 451, never 550', () => {
    assert.equal(mxReply('d.example', { kind: 'undeliverable', reason: 'nxdomain' })?.code, 550);
    assert.deepEqual(mxReply('d.example', { kind: 'unknown', code: 'ETIMEOUT' }), { code: 451, text: '4.4.3 mx: the DNS lookup of d.example failed (ETIMEOUT); try again later' });
    assert.equal(mxReply('d.example', { kind: 'deliverable', via: 'mx' }), null);
  });

  it('the 250 names every id while the line stays short, then the first ones and a count', () => {
    assert.equal(queuedReply(['msg_a', 'msg_b'], 'req_1').text, '2.0.0 queued as msg_a msg_b (request req_1)');
    const many = queuedReply(Array.from({ length: 1000 }, (_, i) => `msg_${String(i).padStart(20, '0')}`), 'req_2').text;
    assert.ok(many.length < 512);
    assert.match(many, /^2\.0\.0 queued as msg_0+ .* and \d+ more \(request req_2\)$/);
  });
});
