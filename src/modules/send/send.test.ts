import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { SEED_PAYLOAD, SEND_ZONE, clone, rowCounts } from './test-fixtures.ts';

type Payload = Record<string, any>;

describeEachEngine('POST /v1/mail/send', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let alice: { id: string; secret: string };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    alice = await h.newKey('alice', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  const send = (payload: unknown, headers: Record<string, string> = {}, url = '/v1/mail/send') =>
    h.call({ method: 'POST', url, payload: payload as Payload, headers, auth: alice.secret });
  const messagesOf = (requestId: string) =>
    h.database.db.selectFrom('messages').selectAll().where('request_id', '=', requestId).orderBy('to_email').execute();
  const contentOf = (id: string) => h.database.db.selectFrom('message_contents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  it('accepts the seed\'s full example and commits content, message and queued event', async () => {
    const res = await send(SEED_PAYLOAD, { 'x-md-channel': 'trans', 'idempotency-key': '550e8400-e29b-41d4-a716-446655440000' });
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(res.json(), { message: 'accepted', app: alice.id });
    const requestId = res.headers['x-message-id'] as string;
    assert.match(requestId, /^req_/);
    const [message, ...others] = await messagesOf(requestId);
    assert.equal(others.length, 0);
    assert.equal(message!.status, 'queued');
    assert.equal(message!.channel, 'trans');
    assert.equal(message!.lane, 0);
    assert.equal(message!.to_email, 'cliente@example.com');
    assert.equal(message!.to_name, 'Cliente Ejemplo');
    assert.match(message!.id, /^msg_/);
    assert.ok(Math.abs(message!.due_at.getTime() - Date.now()) < 60_000);
    assert.deepEqual(message!.personalization, { to: [{ email: 'cliente@example.com', name: 'Cliente Ejemplo' }] });
    const content = await contentOf(message!.content_id);
    assert.equal(content.from_email, 'no-reply@tu-dominio.com');
    assert.equal(content.from_name, 'Tu Servicio');
    assert.equal(content.subject, SEED_PAYLOAD.subject);
    assert.equal(content.html, SEED_PAYLOAD.content[0]!.value);
    assert.equal(content.text, SEED_PAYLOAD.content[1]!.value);
    // The queued event is the row's creation: the log shows it, and accepting stores no event row.
    const stored = await h.database.db.selectFrom('message_events').select('type').where('message_id', '=', message!.id).execute();
    assert.deepEqual(stored, []);
    const logged = (await h.call({ method: 'GET', url: `/v1/messages/${message!.id}`, auth: alice.secret })).json();
    assert.deepEqual(logged.events, [{ type: 'queued', at: message!.created_at.toISOString(), data: {} }]);
  });

  it('wakes in-process workers once the messages are committed', async () => {
    let woken = 0;
    h.context.onQueued(() => woken++);
    const res = await send(SEED_PAYLOAD);
    assert.equal(res.statusCode, 202);
    assert.ok(woken >= 1);
    const refused = await send({ ...SEED_PAYLOAD, from: { email: 'x@elsewhere.example' } });
    assert.equal(refused.statusCode, 403);
    assert.equal(woken, 1, 'a refused request wakes nobody');
  });

  it('answers the same at /v3/mail/send', async () => {
    const res = await send(SEED_PAYLOAD, {}, '/v3/mail/send');
    assert.equal(res.statusCode, 202);
    assert.equal((await messagesOf(res.headers['x-message-id'] as string)).length, 1);
  });

  it('gives every to, cc and bcc address its own message; copies show To and Cc, never Bcc', async () => {
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.personalizations = [
      {
        to: [{ email: 'ana@example.com', name: 'Ana' }, { email: 'Beto@Example.COM' }],
        cc: [{ email: 'carlos@a-only.example' }],
        bcc: [{ email: 'dora@example.com' }],
        subject: 'Hola Ana',
        headers: { 'X-Campaign': 'welcome' },
        substitutions: { '-name-': 'Ana' },
        custom_args: { user_id: '42' },
      },
      { to: [{ email: 'ana@example.com' }] },
    ];
    payload.reply_to = { email: 'help@tu-dominio.com', name: 'Help' };
    payload.headers = { 'X-Entity-Ref': 'abc' };
    payload.categories = ['welcome', 'es'];
    payload.custom_args = { tenant: 't1' };
    payload.tracking_settings = { open_tracking: { enable: true }, click_tracking: { enable: false } };
    payload.attachments = [
      { content: Buffer.from('hello').toString('base64'), filename: 'hello.txt', type: 'text/plain' },
      { content: Buffer.from('png').toString('base64'), filename: 'logo.png', type: 'image/png', disposition: 'inline', content_id: 'logo' },
    ];
    const res = await send(payload);
    assert.equal(res.statusCode, 202, res.body);
    const messages = await messagesOf(res.headers['x-message-id'] as string);
    assert.deepEqual(messages.map((m) => m.to_email), ['Beto@example.com', 'ana@example.com', 'ana@example.com', 'carlos@a-only.example', 'dora@example.com']);
    const first = messages.filter((m) => (m.personalization as Payload).subject === 'Hola Ana');
    assert.equal(first.length, 4);
    for (const m of first) {
      assert.deepEqual(m.personalization, {
        to: [{ email: 'ana@example.com', name: 'Ana' }, { email: 'Beto@Example.COM' }],
        cc: [{ email: 'carlos@a-only.example' }],
        subject: 'Hola Ana',
        headers: { 'X-Campaign': 'welcome' },
        substitutions: { '-name-': 'Ana' },
        custom_args: { user_id: '42' },
      });
      assert.ok(!JSON.stringify(m.personalization).includes('dora'));
    }
    const content = await contentOf(messages[0]!.content_id);
    assert.equal(new Set(messages.map((m) => m.content_id)).size, 1, 'one content row per request');
    assert.deepEqual(content.reply_to, { email: 'help@tu-dominio.com', name: 'Help' });
    assert.deepEqual(content.headers, { 'X-Entity-Ref': 'abc' });
    assert.deepEqual(content.categories, ['welcome', 'es']);
    assert.deepEqual(content.settings, { tracking: { open: true, click: false }, custom_args: { tenant: 't1' } });
    assert.deepEqual(content.attachments, [], 'attachments are not kept as JSON');
    const attachments = await h.database.db.selectFrom('message_attachments').selectAll().where('content_id', '=', content.id).orderBy('seq').execute();
    assert.deepEqual(
      attachments.map((a) => ({ ...a, data: Buffer.from(a.data).toString() })),
      [
        { content_id: content.id, key_id: content.key_id, seq: 0, part: 0, filename: 'hello.txt', type: 'text/plain', disposition: 'attachment', cid: null, data: 'hello' },
        { content_id: content.id, key_id: content.key_id, seq: 1, part: 0, filename: 'logo.png', type: 'image/png', disposition: 'inline', cid: 'logo', data: 'png' },
      ],
    );
  });

  it('X-Md-Channel: bulk queues on the bulk lane; another value is a 400', async () => {
    const res = await send(SEED_PAYLOAD, { 'x-md-channel': 'bulk' });
    assert.equal(res.statusCode, 202);
    const [message] = await messagesOf(res.headers['x-message-id'] as string);
    assert.equal(message!.channel, 'bulk');
    assert.equal(message!.lane, 1);
    const before = await rowCounts(h);
    const bad = await send(SEED_PAYLOAD, { 'x-md-channel': 'marketing' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errors[0].field, 'x-md-channel');
    assert.deepEqual(await rowCounts(h), before);
  });

  it('send_at (unix seconds) sets the due time, per personalization too; a past time is now', async () => {
    const inOneHour = Math.floor(Date.now() / 1000) + 3600;
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.send_at = inOneHour;
    payload.personalizations = [{ to: [{ email: 'a@example.com' }] }, { to: [{ email: 'b@example.com' }], send_at: inOneHour + 60 }, { to: [{ email: 'c@example.com' }], send_at: 1000 }];
    const res = await send(payload);
    assert.equal(res.statusCode, 202, res.body);
    const [a, b, c] = await messagesOf(res.headers['x-message-id'] as string);
    assert.equal(a!.due_at.getTime(), inOneHour * 1000);
    assert.equal(b!.due_at.getTime(), (inOneHour + 60) * 1000);
    assert.ok(c!.due_at.getTime() <= Date.now() && c!.due_at.getTime() > Date.now() - 60_000);
  });

  it('dynamic_template_data becomes Liquid variables', async () => {
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.subject = 'Hola {{ name }}';
    payload.personalizations[0].dynamic_template_data = { name: 'Ana', plan: { tier: 'pro' } };
    const res = await send(payload);
    assert.equal(res.statusCode, 202, res.body);
    const [message] = await messagesOf(res.headers['x-message-id'] as string);
    assert.deepEqual((message!.personalization as Payload).variables, { name: 'Ana', plan: { tier: 'pro' } });
    assert.deepEqual((await contentOf(message!.content_id)).settings, { liquid: true });
  });

  it('template_id takes subject and bodies from the key\'s template, rendered as Liquid with dynamic_template_data', async () => {
    const created = await h.call({
      method: 'POST',
      url: '/v1/bulk/templates',
      auth: alice.secret,
      payload: { name: 'Bienvenida', subject: 'Hola {{ name }}', html: '<p>Hola {{ name }}</p>', body_text: 'Hola {{ name }}' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const templateId = created.json().id as string;
    const payload = clone(SEED_PAYLOAD) as Payload;
    delete payload.content;
    delete payload.subject;
    payload.template_id = templateId;
    payload.personalizations[0].dynamic_template_data = { name: 'Ana' };
    const res = await send(payload);
    assert.equal(res.statusCode, 202, res.body);
    const [message] = await messagesOf(res.headers['x-message-id'] as string);
    const content = await contentOf(message!.content_id);
    assert.equal(content.subject, 'Hola {{ name }}');
    assert.equal(content.html, '<p>Hola {{ name }}</p>');
    assert.equal(content.text, 'Hola {{ name }}');
    assert.deepEqual(content.settings, { liquid: true });
    assert.deepEqual((message!.personalization as Payload).variables, { name: 'Ana' });

    const both = await send({ ...payload, content: [{ type: 'text/plain', value: 'x' }] });
    assert.equal(both.statusCode, 400);
    assert.equal(both.json().errors[0].code, 'conflicting_fields');
    const bob = await h.newKey('bob-templates', ['tu-dominio.com']);
    const foreign = await h.call({ method: 'POST', url: '/v1/mail/send', payload, auth: bob.secret });
    assert.equal(foreign.statusCode, 400);
    assert.equal(foreign.json().errors[0].code, 'template_not_found');
  });

  it('internationalised domains are accepted and queued in ASCII; a SERVFAIL domain is accepted', async () => {
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.personalizations = [{ to: [{ email: 'jöran@bücher.example' }, { email: 'x@broken.example' }] }];
    const res = await send(payload);
    assert.equal(res.statusCode, 202, res.body);
    const messages = await messagesOf(res.headers['x-message-id'] as string);
    assert.deepEqual(messages.map((m) => m.to_email).sort(), ['jöran@xn--bcher-kva.example', 'x@broken.example']);
  });

  it('sandbox mode validates, answers 200 and queues nothing', async () => {
    const before = await rowCounts(h);
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.mail_settings = { sandbox_mode: { enable: true } };
    const res = await send(payload);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { message: 'validated', app: alice.id, sandbox: true });
    payload.personalizations[0].to[0].email = 'nobody@null-mx.example';
    const refused = await send(payload);
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().errors[0].code, 'no_mx');
    assert.deepEqual(await rowCounts(h), before);
  });

  it('a from address outside the key\'s verified domains is a 403', async () => {
    const before = await rowCounts(h);
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.from = { email: 'ceo@elsewhere.example' };
    const res = await send(payload);
    assert.equal(res.statusCode, 403);
    assert.deepEqual(res.json().errors, [{ field: 'from.email', code: 'from_domain_not_verified', message: 'elsewhere.example is not a verified sending domain of this API key' }]);
    assert.deepEqual(await rowCounts(h), before);
  });

  it('one bad address rejects the whole request, naming each failing field and layer', async () => {
    const before = await rowCounts(h);
    const payload = clone(SEED_PAYLOAD) as Payload;
    payload.personalizations = [
      {
        to: [{ email: 'good@example.com' }, { email: 'not an address' }, { email: 'x@mailinator.com' }],
        cc: [{ email: 'y@null-mx.example' }],
        bcc: [{ email: 'z@nowhere.example' }, { email: 'w@sub.guerrillamail.com' }],
      },
    ];
    const res = await send(payload);
    assert.equal(res.statusCode, 400);
    const errors = res.json().errors.map((e: Payload) => `${e.field} ${e.code}`).sort();
    assert.deepEqual(errors, [
      'personalizations.0.bcc.0.email no_mx',
      'personalizations.0.bcc.1.email disposable_domain',
      'personalizations.0.cc.0.email no_mx',
      'personalizations.0.to.1.email invalid_email',
      'personalizations.0.to.2.email disposable_domain',
    ]);
    assert.deepEqual(await rowCounts(h), before);
  });

  const mutate = (change: (p: Payload) => void) => {
    const p = clone(SEED_PAYLOAD) as Payload;
    change(p);
    return p;
  };
  const many = (n: number, domain = 'example.com') => Array.from({ length: n }, (_, i) => ({ email: `r${i}@${domain}` }));

  const refusals: Array<[string, Payload | string, number, string, string | null]> = [
    ['an unknown template_id', mutate((p) => {
      p.template_id = 'd-123';
      delete p.content;
    }), 400, 'template_not_found', 'template_id'],
    ['reply_to_list (unsupported)', mutate((p) => (p.reply_to_list = [{ email: 'a@tu-dominio.com' }])), 400, 'unsupported_field', 'reply_to_list'],
    ['asm (unsupported)', mutate((p) => (p.asm = { group_id: 1 })), 400, 'unsupported_field', 'asm'],
    ['a personalization from', mutate((p) => (p.personalizations[0].from = { email: 'a@tu-dominio.com' })), 400, 'unsupported_field', 'personalizations.0.from'],
    ['an unknown mail setting', mutate((p) => (p.mail_settings = { bypass_list_management: { enable: true } })), 400, 'unsupported_field', 'mail_settings.bypass_list_management'],
    ['an unknown address field', mutate((p) => (p.from.phone = '1')), 400, 'unsupported_field', 'from.phone'],
    ['no personalizations', mutate((p) => delete p.personalizations), 400, 'required', 'personalizations'],
    ['empty to', mutate((p) => (p.personalizations[0].to = [])), 400, 'invalid_value', 'personalizations.0.to'],
    ['no subject anywhere', mutate((p) => delete p.subject), 400, 'required', 'subject'],
    ['no content', mutate((p) => delete p.content), 400, 'required', 'content'],
    ['a calendar part', mutate((p) => (p.content = [{ type: 'text/calendar', value: 'x' }])), 400, 'unsupported_content_type', 'content.0.type'],
    ['two html parts', mutate((p) => (p.content = [p.content[0], p.content[0]])), 400, 'duplicate_content', 'content.1.type'],
    ['an invalid from', mutate((p) => (p.from.email = 'no-reply@@tu-dominio.com')), 400, 'invalid_email', 'from.email'],
    ['an invalid reply_to', mutate((p) => (p.reply_to = { email: 'nope' })), 400, 'invalid_email', 'reply_to.email'],
    ['the same address in to and bcc', mutate((p) => (p.personalizations[0].bcc = [{ email: 'CLIENTE@example.com' }])), 400, 'duplicate_recipient', 'personalizations.0.bcc.0.email'],
    ['1,001 recipients in total', mutate((p) => (p.personalizations = [{ to: many(600) }, { to: many(300), cc: many(101, 'a-only.example') }])), 400, 'too_many_recipients', 'personalizations'],
    ['1,001 personalizations', mutate((p) => (p.personalizations = many(1001).map((a) => ({ to: [a] })))), 400, 'invalid_value', 'personalizations'],
    ['a reserved header', mutate((p) => (p.headers = { From: 'x@evil.example' })), 400, 'reserved_header', 'headers.From'],
    ['a header value with a line break', mutate((p) => (p.personalizations[0].headers = { 'X-A': 'a\r\nBcc: x@evil.example' })), 400, 'invalid_value', 'personalizations.0.headers.X-A'],
    ['a subject with a line break', mutate((p) => (p.subject = 'a\nb')), 400, 'invalid_value', 'subject'],
    ['send_at more than 72 h ahead', mutate((p) => (p.send_at = Math.floor(Date.now() / 1000) + 73 * 3600)), 400, 'send_at_too_far', 'send_at'],
    ['send_at as text', mutate((p) => (p.send_at = '1700000000')), 400, 'invalid_value', 'send_at'],
    ['an attachment that is not base64', mutate((p) => (p.attachments = [{ content: 'not base64!', filename: 'a.txt' }])), 400, 'invalid_base64', 'attachments.0.content'],
    ['an inline attachment without content_id', mutate((p) => (p.attachments = [{ content: 'aGk=', filename: 'a.png', disposition: 'inline' }])), 400, 'required', 'attachments.0.content_id'],
    ['eleven categories', mutate((p) => (p.categories = Array.from({ length: 11 }, (_, i) => `c${i}`))), 400, 'invalid_value', 'categories'],
    ['custom_args over 10,000 bytes', mutate((p) => (p.custom_args = { big: 'x'.repeat(10_001) })), 400, 'too_large', 'custom_args'],
    ['a name with a line break', mutate((p) => (p.personalizations[0].to[0].name = 'A\r\nBcc: x')), 400, 'invalid_value', 'personalizations.0.to.0.name'],
    ['a body that is not JSON', '{"personalizations":', 400, 'invalid_json', null],
  ];
  for (const [what, payload, status, code, field] of refusals) {
    it(`refuses ${what} (${status} ${code}) and changes nothing`, async () => {
      const before = await rowCounts(h);
      const res = await h.call({
        method: 'POST',
        url: '/v1/mail/send',
        auth: alice.secret,
        headers: { 'content-type': 'application/json', 'idempotency-key': `refused ${what}` },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
      assert.equal(res.statusCode, status, res.body);
      const errors = res.json().errors as Payload[];
      assert.ok(
        errors.some((e) => e.code === code && e.field === field),
        `expected ${code} on ${field}, got ${JSON.stringify(errors)}`,
      );
      assert.deepEqual(await rowCounts(h), before);
    });
  }

  it('refuses a body over the limit with 413 and a non-JSON body with 415', async () => {
    const before = await rowCounts(h);
    const small = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_BODY_LIMIT: '2048' });
    try {
      const key = await small.newKey('k', ['tu-dominio.com']);
      const payload = mutate((p) => (p.content[1].value = 'x'.repeat(4096)));
      const big = await small.call({ method: 'POST', url: '/v1/mail/send', payload, auth: key.secret });
      assert.equal(big.statusCode, 413);
      assert.equal(big.json().errors[0].code, 'body_too_large');
    } finally {
      await small.close();
    }
    const text = await h.call({ method: 'POST', url: '/v1/mail/send', headers: { 'content-type': 'text/plain' }, payload: 'hi', auth: alice.secret });
    assert.equal(text.statusCode, 415);
    assert.deepEqual(await rowCounts(h), before);
  });

  it('without a key, 401', async () => {
    const res = await h.call({ method: 'POST', url: '/v1/mail/send', payload: SEED_PAYLOAD, auth: null });
    assert.equal(res.statusCode, 401);
  });
});
