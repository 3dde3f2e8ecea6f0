import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../test/support/engines.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';
import { nestsDeeperThan, MAX_JSON_DEPTH } from '../lib/json-depth.ts';
import { SEED_PAYLOAD, clone } from '../modules/send/test-fixtures.ts';
import { installErrorHandling } from './errors.ts';
import { inputProblem } from './input-guards.ts';

const json = { 'content-type': 'application/json' };
const NUL = '\u0000';

/** `{"a":{"a":…1…}}`, `levels` objects deep, as text (JSON.stringify itself would overflow on thousands). */
const nestedObjects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const nestedArrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

type ErrorBody = { errors: Array<{ message: string; field: string | null; code: string }> };
const firstError = (body: string) => (JSON.parse(body) as ErrorBody).errors[0]!;

it('inputProblem walks iteratively: any depth, the first NUL or forbidden key, each named by its dotted path', () => {
  assert.equal(inputProblem({ a: [{ b: 'ok' }], n: 1, t: true, z: null }), null);
  assert.equal(inputProblem(JSON.parse(nestedObjects(MAX_JSON_DEPTH))), null, '32 levels are fine');
  assert.equal(inputProblem(JSON.parse(nestedObjects(MAX_JSON_DEPTH + 1)))?.code, 'too_deep');
  const deep = inputProblem(JSON.parse(nestedArrays(100_000)));
  assert.deepEqual([deep?.code, deep?.details[0]!.field], ['too_deep', Array(MAX_JSON_DEPTH).fill('0').join('.')]);
  const nul = inputProblem({ personalizations: [{ to: [{ email: `a${NUL}@b.co` }] }] });
  assert.deepEqual([nul?.code, nul?.details[0]!.field], ['invalid_characters', 'personalizations.0.to.0.email']);
  assert.equal(inputProblem({ metadata: { [`k${NUL}`]: 1 } })?.details[0]!.field, `metadata.k${NUL}`);
  assert.equal(inputProblem(`x${NUL}`)?.details[0]!.field, null);
  const proto = inputProblem(JSON.parse('{"metadata":{"__proto__":{"admin":true}}}'));
  assert.deepEqual([proto?.code, proto?.details[0]!.field], ['forbidden_key', 'metadata.__proto__']);
  assert.equal(inputProblem(JSON.parse('{"constructor":{"prototype":{}}}'))?.details[0]!.field, 'constructor.prototype');
  assert.equal(inputProblem({ constructor: 'a name' }), null, 'a plain "constructor" field is fine');
  assert.equal(nestsDeeperThan(JSON.parse(nestedArrays(100_000))), true);
  assert.equal(nestsDeeperThan({ email: 'a@b.co', metadata: { plan: 'pro' } }), false);
});

describeEachEngine('input guards at the HTTP edge', (engine) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(engine);
  });
  after(() => h.close());

  const count = async (table: 'lists' | 'templates' | 'contacts' | 'suppressions' | 'api_keys' | 'messages') =>
    Number((await h.database.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const counts = async () => Promise.all((['lists', 'templates', 'contacts', 'suppressions', 'api_keys', 'messages'] as const).map(count));

  it('a NUL in a JSON body, a path parameter or a query value is a 400 invalid_characters naming the field; nothing is stored', async () => {
    const before = await counts();
    const send = clone(SEED_PAYLOAD);
    send.personalizations[0]!.to[0]!.email = `cliente${NUL}@example.com`;
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/v1/mail/send', send, 'personalizations.0.to.0.email'],
      ['POST', '/v1/bulk/lists', { name: `Boletín${NUL}` }, 'name'],
      ['POST', '/v1/bulk/templates', { name: 't', subject: `Hola${NUL}`, html: '<p>x</p>' }, 'subject'],
      ['POST', '/v1/bulk/contacts', { email: 'ana@example.com', name: `Ana${NUL}` }, 'name'],
      ['POST', '/v1/bulk/contacts', { email: 'ana@example.com', metadata: { plan: [`pro${NUL}`] } }, 'metadata.plan.0'],
      ['POST', '/v1/suppressions', { email: `x${NUL}@example.com` }, 'email'],
      ['POST', '/v1/keys', { name: `ci${NUL}` }, 'name'],
      ['POST', '/v1/bulk/contacts/import-preview', { emails: ['ok@example.com', `a${NUL}@example.com`] }, 'emails.1'],
      ['POST', '/v1/bulk/campaigns/%00/pause', undefined, 'id'],
      ['GET', '/v1/bulk/lists/list%00', undefined, 'id'],
      ['GET', '/v1/bulk/contacts/ana%00@example.com', undefined, 'email'],
      ['DELETE', '/v1/suppressions/x%00@example.com', undefined, 'email'],
      ['GET', '/v1/bulk/contacts?q=%00', undefined, 'q'],
      ['GET', '/v1/suppressions?q=a&q=b%00', undefined, 'q.1'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await h.call({ method: method as 'GET', url, ...(payload === undefined ? {} : { headers: json, payload: payload as object }) });
      assert.equal(res.statusCode, 400, `${method} ${url}: ${res.body}`);
      const error = firstError(res.body);
      assert.deepEqual([error.code, error.field], ['invalid_characters', field], `${method} ${url}`);
      assert.match(error.message, /NUL/);
    }
    assert.deepEqual(await counts(), before);
  });

  it('a NUL in a CSV, NDJSON or JSON import row is a row error of the 207, and the other rows go in', async () => {
    const bodies: Array<[string, string, string]> = [
      ['text/csv', `email,name,plan\nnul-csv-1@example.com,A${NUL}na,pro\nnul-csv-2@example.com,Bea,pro${NUL}\nok-csv@example.com,Cai,pro\n`, 'ok-csv@example.com'],
      ['application/x-ndjson', `{"email":"nul-nd@example.com","name":"A\\u0000"}\n{"email":"ok-nd@example.com"}\n`, 'ok-nd@example.com'],
      ['application/json', `[{"email":"nul-js@example.com","metadata":{"k\\u0000":1}},{"email":"ok-js@example.com"}]`, 'ok-js@example.com'],
    ];
    for (const [type, payload, good] of bodies) {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/contacts/import', headers: { 'content-type': type }, payload });
      assert.equal(res.statusCode, 207, `${type}: ${res.body}`);
      const result = res.json();
      assert.equal(result.created, 1, type);
      assert.ok(result.failed >= 1 && result.errors.every((e: { code: string }) => ['invalid_name', 'invalid_metadata'].includes(e.code)), `${type}: ${res.body}`);
      assert.equal((await h.call({ method: 'GET', url: `/v1/bulk/contacts/${good}` })).statusCode, 200);
    }
  });

  it('a JSON body nested deeper than 32 levels is a 400 too_deep before any schema sees it (5,000 levels: not a 500)', async () => {
    const before = await counts();
    const contact = `{"email":"deep@example.com","metadata":${nestedObjects(5000)}}`;
    const sendBody = JSON.stringify(SEED_PAYLOAD).replace('"personalizations":[', `"personalizations":[{"to":[{"email":"a@example.com"}],"dynamic_template_data":{"x":${nestedArrays(5000)}}},`);
    for (const [url, payload] of [
      ['/v1/bulk/contacts', contact],
      ['/v1/mail/send', sendBody],
      ['/v1/mail/send', nestedArrays(5000)],
      ['/v1/bulk/lists', `{"name":"x","description":${nestedObjects(40)}}`],
    ] as const) {
      const res = await h.call({ method: 'POST', url, headers: json, payload });
      assert.equal(res.statusCode, 400, `${url}: ${res.body.slice(0, 200)}`);
      const error = firstError(res.body);
      assert.equal(error.code, 'too_deep');
      assert.ok(error.field === null || error.field.split('.').length === MAX_JSON_DEPTH, String(error.field));
    }
    assert.equal(firstError((await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: json, payload: contact })).body).field, `metadata${'.a'.repeat(MAX_JSON_DEPTH - 1)}`);
    assert.deepEqual(await counts(), before);
    // 32 levels in all (the body, then metadata and 30 objects below it) are accepted.
    const ok = await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: json, payload: `{"email":"deep-ok@example.com","metadata":${nestedObjects(31)}}` });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  it('an import row nested too deep is a 207 row error too_deep (NDJSON and JSON array), not a 500', async () => {
    const row = `{"email":"deep-row@example.com","metadata":${nestedObjects(5000)}}`;
    for (const [type, payload] of [
      ['application/x-ndjson', `${row}\n{"email":"ok-deep-nd@example.com"}\n`],
      ['application/json', `[${row},{"email":"ok-deep-js@example.com"}]`],
    ] as const) {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/contacts/import', headers: { 'content-type': type }, payload });
      assert.equal(res.statusCode, 207, `${type}: ${res.body}`);
      assert.deepEqual(res.json().errors, [{ index: 0, email: 'deep-row@example.com', code: 'too_deep', message: `the row is nested more than ${MAX_JSON_DEPTH} levels deep` }]);
      assert.equal(res.json().created, 1);
    }
    assert.equal((await h.call({ method: 'GET', url: '/v1/bulk/contacts/deep-row@example.com' })).statusCode, 404);
  });

  it('a __proto__ or constructor.prototype key is a 400 forbidden_key saying so, not "not valid JSON"', async () => {
    const before = await counts();
    for (const [payload, field] of [
      ['{"name":"x","__proto__":{"admin":true}}', '__proto__'],
      ['{"name":"x","\\u005f_proto__":{"admin":true}}', '__proto__'],
      ['{"name":"x","constructor":{"prototype":{"admin":true}}}', 'constructor.prototype'],
    ] as const) {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/lists', headers: json, payload });
      assert.equal(res.statusCode, 400, res.body);
      const error = firstError(res.body);
      assert.deepEqual([error.code, error.field], ['forbidden_key', field]);
      assert.match(error.message, /is not allowed/);
      assert.doesNotMatch(error.message, /valid JSON/);
    }
    const nested = await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: json, payload: '{"email":"p@example.com","metadata":{"__proto__":{"x":1}}}' });
    assert.deepEqual([nested.statusCode, firstError(nested.body).field], [400, 'metadata.__proto__']);
    assert.deepEqual(await counts(), before);
    // Malformed and empty JSON keep their answer.
    assert.equal(firstError((await h.call({ method: 'POST', url: '/v1/bulk/lists', headers: json, payload: '{"name":' })).body).code, 'invalid_json');
    assert.equal(firstError((await h.call({ method: 'POST', url: '/v1/bulk/lists', headers: json, payload: '' })).body).code, 'invalid_json');
  });

  it('a charset other than UTF-8 or a Content-Encoding is a 415 unsupported_media_type; charset=utf-8 in any case is fine', async () => {
    const before = await counts();
    const refused: Array<[Record<string, string>, string]> = [
      [{ 'content-type': 'application/json; charset=latin1' }, 'Content-Type'],
      [{ 'content-type': 'application/json; charset="ISO-8859-1"' }, 'Content-Type'],
      [{ 'content-type': 'application/json; charset=utf-16' }, 'Content-Type'],
      [{ ...json, 'content-encoding': 'gzip' }, 'Content-Encoding'],
      [{ ...json, 'content-encoding': 'br' }, 'Content-Encoding'],
      [{ ...json, 'content-encoding': 'deflate' }, 'Content-Encoding'],
    ];
    for (const [headers, field] of refused) {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/lists', headers, payload: '{"name":"Encoded"}' });
      assert.equal(res.statusCode, 415, `${JSON.stringify(headers)}: ${res.body}`);
      assert.deepEqual([firstError(res.body).code, firstError(res.body).field], ['unsupported_media_type', field]);
    }
    const csv = await h.call({ method: 'POST', url: '/v1/bulk/contacts/import', headers: { 'content-type': 'text/csv; charset=windows-1252' }, payload: 'email\nlatin@example.com\n' });
    assert.deepEqual([csv.statusCode, firstError(csv.body).code], [415, 'unsupported_media_type']);
    assert.deepEqual(await counts(), before);
    for (const type of ['application/json; charset=utf-8', 'application/json; charset=UTF-8', 'application/json;charset="Utf-8"', 'application/json']) {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/lists', headers: { 'content-type': type, 'content-encoding': 'identity' }, payload: '{"name":"Fine"}' });
      assert.equal(res.statusCode, 201, `${type}: ${res.body}`);
    }
  });

  it('the error handler answers PostgreSQL 22021 and 22P05 (a NUL that got past the guards) with a 400 invalid_characters', async () => {
    const app = Fastify();
    installErrorHandling(app);
    app.get('/text', async () => (await sql`select ${`a${NUL}b`}::text as t`.execute(h.database.db)).rows);
    app.get('/jsonb', async () => (await sql`select ${'{"a":"\\u0000"}'}::jsonb as j`.execute(h.database.db)).rows);
    try {
      for (const url of ['/text', '/jsonb']) {
        const res = await app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
        assert.deepEqual(firstError(res.body), { message: 'the request contains a character that cannot be stored (such as U+0000)', field: null, code: 'invalid_characters' });
      }
    } finally {
      await app.close();
    }
  });
});
