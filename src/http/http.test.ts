import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../test/support/engines.ts';
import { startHarness, type Harness } from '../../test/support/harness.ts';

function assertEnvelope(body: unknown, code: string): void {
  const { errors } = body as { errors: Array<{ message: string; field: string | null; code: string }> };
  assert.ok(Array.isArray(errors) && errors.length > 0, 'errors array');
  for (const e of errors) {
    assert.equal(typeof e.message, 'string');
    assert.ok(e.field === null || typeof e.field === 'string');
    assert.equal(typeof e.code, 'string');
  }
  assert.ok(errors.some((e) => e.code === code), `expected code ${code} in ${JSON.stringify(errors)}`);
}

describeEachEngine('http edge', (engine) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(engine, { MAILERDASH_BODY_LIMIT: '2048' });
  });
  after(() => h.close());

  it('answers health, readiness, metrics, OpenAPI and the docs page', async () => {
    assert.deepEqual((await h.call({ method: 'GET', url: '/healthz', auth: null })).json(), { status: 'ok' });
    assert.deepEqual((await h.call({ method: 'GET', url: '/readyz', auth: null })).json(), { status: 'ready' });
    const metrics = await h.call({ method: 'GET', url: '/metrics', auth: null });
    assert.match(metrics.body, /mailerdash_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
    assert.match(metrics.body, /process_cpu_user_seconds_total/);
    const spec = (await h.call({ method: 'GET', url: '/openapi.json', auth: null })).json();
    assert.equal(spec.openapi, '3.1.0');
    assert.ok(spec.paths['/v1/keys'].post.requestBody);
    assert.ok(spec.paths['/v1/domains/{domain}/verify']);
    const docs = await h.call({ method: 'GET', url: '/docs/', auth: null });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });

  it('unknown routes are 404 in the envelope', async () => {
    const res = await h.call({ method: 'GET', url: '/v1/nothing-here' });
    assert.equal(res.statusCode, 404);
    assertEnvelope(res.json(), 'route_not_found');
  });

  it('auth: missing, malformed and wrong keys are 401', async () => {
    for (const auth of [null, 'wrong-key-value']) {
      const res = await h.call({ method: 'GET', url: '/v1/keys', auth });
      assert.equal(res.statusCode, 401);
      assertEnvelope(res.json(), auth === null ? 'missing_api_key' : 'invalid_api_key');
    }
    const basic = await h.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: 'Basic abc' } });
    assert.equal(basic.statusCode, 401);
  });

  it('non-JSON bodies are 415, malformed JSON 400, oversized 413, unknown fields 400; nothing is created', async () => {
    const before = (await h.call({ method: 'GET', url: '/v1/keys' })).json().total;
    const cases: Array<[Record<string, string>, string, number, string]> = [
      [{ 'content-type': 'text/plain' }, 'name=x', 415, 'unsupported_media_type'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 'name=x', 415, 'unsupported_media_type'],
      [{ 'content-type': 'application/json' }, '{"name":', 400, 'invalid_json'],
      [{ 'content-type': 'application/json' }, JSON.stringify({ name: 'x'.repeat(3000) }), 413, 'body_too_large'],
      [{ 'content-type': 'application/json' }, JSON.stringify({ name: 'x', colour: 'red' }), 400, 'unsupported_field'],
      [{ 'content-type': 'application/json' }, JSON.stringify({ admin: true }), 400, 'required'],
      [{ 'content-type': 'application/json' }, JSON.stringify({ name: 42 }), 400, 'invalid_value'],
    ];
    for (const [headers, payload, status, code] of cases) {
      const res = await h.call({ method: 'POST', url: '/v1/keys', headers, payload });
      assert.equal(res.statusCode, status, `${payload.slice(0, 40)} -> ${res.body}`);
      assertEnvelope(res.json(), code);
    }
    const missing = await h.call({ method: 'POST', url: '/v1/keys', headers: { 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(missing.json().errors[0].field, 'name');
    assert.equal((await h.call({ method: 'GET', url: '/v1/keys' })).json().total, before);
  });

  it('query strings are validated too', async () => {
    const res = await h.call({ method: 'GET', url: '/v1/keys?limit=5000' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().errors[0].field, 'limit');
  });
});
