import assert from 'node:assert/strict';
import { it } from 'node:test';
import { planSend } from './rules.ts';
import type { SendBodyT } from './schemas.ts';

const now = new Date('2026-01-01T00:00:00Z');
const base = (change: Partial<SendBodyT> = {}): SendBodyT => ({
  personalizations: [{ to: [{ email: 'ana@example.com' }] }],
  from: { email: 'no-reply@tu-dominio.com' },
  subject: 'Hola',
  content: [{ type: 'text/plain', value: 'x' }],
  ...change,
});

it('plans one copy per to, cc and bcc address, bcc never visible', () => {
  const { errors, plan } = planSend(base({ personalizations: [{ to: [{ email: 'a@x.example' }], cc: [{ email: 'b@x.example' }], bcc: [{ email: 'c@x.example' }] }] }), now);
  assert.deepEqual(errors, []);
  assert.deepEqual(plan!.copies.map((c) => [c.field, c.recipient.address]), [
    ['personalizations.0.to.0.email', 'a@x.example'],
    ['personalizations.0.cc.0.email', 'b@x.example'],
    ['personalizations.0.bcc.0.email', 'c@x.example'],
  ]);
  for (const copy of plan!.copies) assert.deepEqual(copy.personalization, { to: [{ email: 'a@x.example' }], cc: [{ email: 'b@x.example' }] });
});

it('send_at: the personalization wins, past means now, beyond 72 h is an error', () => {
  const at = now.getTime() / 1000;
  const { plan } = planSend(base({ send_at: at + 60, personalizations: [{ to: [{ email: 'a@x.example' }] }, { to: [{ email: 'b@x.example' }], send_at: at - 60 }] }), now);
  assert.deepEqual(plan!.copies.map((c) => c.dueAt.toISOString()), ['2026-01-01T00:01:00.000Z', '2026-01-01T00:00:00.000Z']);
  assert.deepEqual(planSend(base({ send_at: at + 72 * 3600 + 1 }), now).errors.map((e) => e.code), ['send_at_too_far']);
  assert.deepEqual(planSend(base({ send_at: at + 72 * 3600 }), now).errors, []);
});

it('an address twice in one personalization is an error, across personalizations it is not', () => {
  const twice = planSend(base({ personalizations: [{ to: [{ email: 'a@x.example' }], bcc: [{ email: 'A@X.EXAMPLE' }] }] }), now);
  assert.deepEqual(twice.errors.map((e) => `${e.field} ${e.code}`), ['personalizations.0.bcc.0.email duplicate_recipient']);
  const apart = planSend(base({ personalizations: [{ to: [{ email: 'a@x.example' }] }, { to: [{ email: 'a@x.example' }] }] }), now);
  assert.equal(apart.plan!.copies.length, 2);
});

it('counts recipients across personalizations against the 1,000 limit', () => {
  const to = (n: number, p: string) => Array.from({ length: n }, (_, i) => ({ email: `${p}${i}@x.example` }));
  assert.deepEqual(planSend(base({ personalizations: [{ to: to(500, 'a'), cc: to(500, 'b') }] }), now).errors, []);
  const over = planSend(base({ personalizations: [{ to: to(500, 'a') }, { to: to(500, 'b'), bcc: to(1, 'c') }] }), now);
  assert.deepEqual(over.errors.map((e) => e.code), ['too_many_recipients']);
});

it('maps tracking, custom args, headers and Liquid variables to the shared contract', () => {
  const { plan } = planSend(
    base({
      tracking_settings: { click_tracking: { enable: true } },
      custom_args: { a: '1' },
      headers: { 'X-A': 'b' },
      personalizations: [{ to: [{ email: 'a@x.example' }], dynamic_template_data: { n: 1 }, custom_args: { b: '2' } }],
    }),
    now,
  );
  assert.deepEqual(plan!.settings, { tracking: { click: true }, liquid: true, custom_args: { a: '1' } });
  assert.deepEqual(plan!.headers, { 'X-A': 'b' });
  assert.deepEqual(plan!.copies[0]!.personalization, { to: [{ email: 'a@x.example' }], variables: { n: 1 }, custom_args: { b: '2' } });
});

it('refuses reserved and malformed header names', () => {
  const { errors } = planSend(base({ headers: { 'Message-ID': '<x@y>', 'Bad Name': 'v', 'X-Ok': 'v' } }), now);
  assert.deepEqual(errors.map((e) => `${e.field} ${e.code}`), ['headers.Message-ID reserved_header', 'headers.Bad Name invalid_header']);
});
