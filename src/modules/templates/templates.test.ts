import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };
type Key = { id: string; secret: string };

describeEachEngine('templates', (engine) => {
  let h: Harness;
  let alice: Key;
  let bob: Key;

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(() => h.close());

  const call = (key: Key, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    h.call({ method, url, auth: key.secret, ...(payload === undefined ? {} : { headers: json, payload: JSON.stringify(payload) }) });
  const total = async (key: Key) => (await call(key, 'GET', '/v1/bulk/templates')).json().total as number;

  it('creates a template with a slug-6hex id from the name, gets, lists, updates and deletes it', async () => {
    const created = await call(alice, 'POST', '/v1/bulk/templates', { name: 'Bienvenida', subject: 'Hola {{ name }}', html: '<p>Hola {{ name }}</p>', body_text: 'Hola {{ name }}' });
    assert.equal(created.statusCode, 201);
    const t = created.json();
    assert.match(t.id, /^bienvenida-[0-9a-f]{6}$/);
    assert.deepEqual({ name: t.name, subject: t.subject, key_id: t.key_id }, { name: 'Bienvenida', subject: 'Hola {{ name }}', key_id: alice.id });
    assert.equal((await call(alice, 'GET', `/v1/bulk/templates/${t.id}`)).json().html, '<p>Hola {{ name }}</p>');
    const page = (await call(alice, 'GET', '/v1/bulk/templates?limit=10')).json();
    assert.ok(page.data.some((x: { id: string }) => x.id === t.id));
    assert.deepEqual({ limit: page.limit, offset: page.offset }, { limit: 10, offset: 0 });
    const patched = await call(alice, 'PATCH', `/v1/bulk/templates/${t.id}`, { subject: 'Bienvenido {{ name }}', html: null });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().subject, 'Bienvenido {{ name }}');
    assert.equal(patched.json().html, null);
    assert.equal(patched.json().id, t.id);
    assert.equal((await call(alice, 'DELETE', `/v1/bulk/templates/${t.id}`)).statusCode, 204);
    assert.equal((await call(alice, 'GET', `/v1/bulk/templates/${t.id}`)).statusCode, 404);
  });

  it('refuses bad templates with 400 naming the field (and the line), saving nothing', async () => {
    const before = await total(alice);
    const cases: [unknown, string, string][] = [
      [{ name: 'x', subject: 'Hi' }, 'missing_body', 'html'],
      [{ name: 'x', subject: 'Hi', html: '  ', body_text: '' }, 'missing_body', 'html'],
      [{ name: 'x', html: '<p>x</p>' }, 'required', 'subject'],
      [{ subject: 's', html: 'x' }, 'required', 'name'],
      [{ name: 'x', subject: 'Hi {{ name', html: 'x' }, 'template_syntax', 'subject'],
      [{ name: 'x', subject: 'Hi', html: '<p>\n{% if plan %}\nopen' }, 'template_syntax', 'html'],
      [{ name: 'x', subject: 'Hi', body_text: 'a\n{{ name | bogus }}' }, 'template_syntax', 'body_text'],
      [{ name: 'x', subject: 'Hi', html: '{% include "secrets" %}' }, 'template_syntax', 'html'],
      [{ name: 'x', subject: 'Hi', html: 'x', extra: 1 }, 'unsupported_field', 'extra'],
    ];
    for (const [body, code, field] of cases) {
      const res = await call(alice, 'POST', '/v1/bulk/templates', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().errors[0].code, code, JSON.stringify(body));
      assert.equal(res.json().errors[0].field, field, JSON.stringify(body));
    }
    const syntax = await call(alice, 'POST', '/v1/bulk/templates', { name: 'x', subject: 'Hi', html: '<p>\n{% if plan %}\nopen' });
    assert.match(syntax.json().errors[0].message, /line 2/);
    assert.equal(await total(alice), before);

    const ok = (await call(alice, 'POST', '/v1/bulk/templates', { name: 'Keep', subject: 'S', html: '<p>ok</p>' })).json();
    for (const [patch, code] of [[{ html: null }, 'missing_body'], [{ body_text: '{% for %}' }, 'template_syntax'], [{ name: '' }, 'invalid_value']] as const) {
      const res = await call(alice, 'PATCH', `/v1/bulk/templates/${ok.id}`, patch);
      assert.equal(res.statusCode, 400, JSON.stringify(patch));
      assert.equal(res.json().errors[0].code, code, JSON.stringify(patch));
    }
    assert.equal((await call(alice, 'GET', `/v1/bulk/templates/${ok.id}`)).json().html, '<p>ok</p>');
  });

  it('refuses CR or LF in the subject (400 invalid_header_value) on create and PATCH, storing nothing', async () => {
    const before = await total(alice);
    for (const subject of ['Hola\r\nBcc: victim@example.com', 'Hola\nBcc: x', 'Hola\r']) {
      const res = await call(alice, 'POST', '/v1/bulk/templates', { name: 'x', subject, html: '<p>x</p>' });
      assert.equal(res.statusCode, 400, res.body);
      assert.deepEqual([res.json().errors[0].code, res.json().errors[0].field], ['invalid_header_value', 'subject']);
    }
    assert.equal(await total(alice), before);
    const t = (await call(alice, 'POST', '/v1/bulk/templates', { name: 'Una línea', subject: 'Hola {{ name }}', html: '<p>x</p>' })).json();
    const patched = await call(alice, 'PATCH', `/v1/bulk/templates/${t.id}`, { subject: 'Hola\r\nBcc: victim@example.com' });
    assert.equal(patched.statusCode, 400, patched.body);
    assert.deepEqual([patched.json().errors[0].code, patched.json().errors[0].field], ['invalid_header_value', 'subject']);
    assert.equal((await call(alice, 'GET', `/v1/bulk/templates/${t.id}`)).json().subject, 'Hola {{ name }}');
  });

  it('renders a preview with variables, escaping HTML but not the text or subject', async () => {
    const t = (
      await call(alice, 'POST', '/v1/bulk/templates', {
        name: 'Promo',
        subject: '{{ name }}, tu plan {{ metadata.plan }}',
        html: '<p>Hola {{ name }} ({{ email }}) {{ code }}</p><a href="{{ unsubscribe_url }}">baja</a>',
        body_text: 'Hola {{ name }} {{ code }} {{ unsubscribe_url }}',
      })
    ).json();
    const res = await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, {
      variables: { name: 'Ana & <b>Co</b>', email: 'ana@empresa.com', metadata: { plan: 'pro' }, code: 'X1' },
      unsubscribe_url: 'https://u.test/x?a=1&b=2',
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      subject: 'Ana & <b>Co</b>, tu plan pro',
      html: '<p>Hola Ana &amp; &lt;b&gt;Co&lt;/b&gt; (ana@empresa.com) X1</p><a href="https://u.test/x?a=1&amp;b=2">baja</a>',
      text: 'Hola Ana & <b>Co</b> X1 https://u.test/x?a=1&b=2',
    });
    const fromVariables = await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, { variables: { unsubscribe_url: 'https://u.test/v' } });
    assert.equal(fromVariables.json().text, 'Hola   https://u.test/v');
    const placeholder = await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, {});
    assert.equal(placeholder.json().text, 'Hola   #unsubscribe');
  });

  it('renders a preview for one of the key\'s contacts by email', async () => {
    await call(alice, 'POST', '/v1/bulk/contacts', { email: 'ana@empresa.com', name: 'Ana García', metadata: { plan: 'pro' } });
    await call(bob, 'POST', '/v1/bulk/contacts', { email: 'pedro@cliente.io', name: 'Pedro' });
    const t = (await call(alice, 'POST', '/v1/bulk/templates', { name: 'Plan', subject: 'Plan {{ metadata.plan }}', body_text: '{{ name }} <{{ email }}> {{ extra }}' })).json();
    const res = await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, { email: 'ANA@empresa.com', variables: { extra: 'E', name: 'ignored' } });
    assert.deepEqual(res.json(), { subject: 'Plan pro', html: null, text: 'Ana García <ana@empresa.com> E' });
    const other = await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, { email: 'pedro@cliente.io' });
    assert.equal(other.statusCode, 400);
    assert.equal(other.json().errors[0].field, 'email');
    const bad = await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, { variables: 'x' });
    assert.equal(bad.statusCode, 400);
  });

  it('honours Idempotency-Key on create: a retry replays the same template, another payload is 422', async () => {
    const headers = { ...json, 'idempotency-key': 'tpl-1' };
    const body = JSON.stringify({ name: 'Once', subject: 'S', html: 'x' });
    const first = await h.call({ method: 'POST', url: '/v1/bulk/templates', headers, payload: body, auth: alice.secret });
    const again = await h.call({ method: 'POST', url: '/v1/bulk/templates', headers, payload: body, auth: alice.secret });
    assert.equal(again.statusCode, 201);
    assert.equal(again.json().id, first.json().id);
    const other = await h.call({ method: 'POST', url: '/v1/bulk/templates', headers, payload: JSON.stringify({ name: 'Twice', subject: 'S', html: 'x' }), auth: alice.secret });
    assert.equal(other.statusCode, 422);
    const all = (await call(alice, 'GET', '/v1/bulk/templates?limit=1000')).json().data as { name: string }[];
    assert.equal(all.filter((t) => t.name === 'Once').length, 1);
  });

  it('keeps keys apart: another key\'s template is 404 everywhere, key_id is admin-only', async () => {
    const t = (await call(bob, 'POST', '/v1/bulk/templates', { name: 'Bob only', subject: 'S', html: 'x' })).json();
    assert.equal((await call(alice, 'GET', `/v1/bulk/templates/${t.id}`)).statusCode, 404);
    assert.equal((await call(alice, 'PATCH', `/v1/bulk/templates/${t.id}`, { name: 'mine' })).statusCode, 404);
    assert.equal((await call(alice, 'POST', `/v1/bulk/templates/${t.id}/render`, {})).statusCode, 404);
    const del = await call(alice, 'DELETE', `/v1/bulk/templates/${t.id}`);
    assert.equal(del.statusCode, 404);
    assert.equal(del.json().errors[0].code, 'not_found');
    assert.equal((await call(bob, 'GET', `/v1/bulk/templates/${t.id}`)).json().name, 'Bob only');
    assert.ok(!(await call(alice, 'GET', '/v1/bulk/templates')).json().data.some((x: { id: string }) => x.id === t.id));
    assert.equal((await call(alice, 'GET', `/v1/bulk/templates?key_id=${bob.id}`)).statusCode, 403);
    const admin = await h.call({ method: 'GET', url: `/v1/bulk/templates?key_id=${bob.id}` });
    assert.deepEqual(admin.json().data.map((x: { id: string }) => x.id), [t.id]);
  });
});
