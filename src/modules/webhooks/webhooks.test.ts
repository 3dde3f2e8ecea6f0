import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };

describeEachEngine('webhooks API', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  const create = (payload: Record<string, unknown>, auth = alice.secret, headers: Record<string, string> = {}) =>
    h.call({ method: 'POST', url: '/v1/webhooks', headers: { ...json, ...headers }, auth, payload });

  before(async () => {
    dns = await startDnsServer({
      'hooks.example.com': [{ type: 'A', address: '93.184.216.34' }],
      'rebind.example.com': [{ type: 'A', address: '127.0.0.1' }],
    });
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_WEBHOOK_ALLOW_HOSTS: 'allowed.local' });
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  it('creates an endpoint and shows its secret once', async () => {
    const res = await create({ url: 'https://hooks.example.com/in', description: 'ours', events: ['message.bounced', 'campaign.*'] });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.match(body.id, /^wh_/);
    assert.match(body.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
    assert.deepEqual(body.events, ['message.bounced', 'campaign.*']);
    assert.equal(body.enabled, true);
    const got = await h.call({ method: 'GET', url: `/v1/webhooks/${body.id}`, auth: alice.secret });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().secret, undefined);
    assert.equal(got.json().url, 'https://hooks.example.com/in');
    // At rest the secret is sealed, not readable.
    const row = await h.database.db.selectFrom('webhooks').select('secret_sealed').where('id', '=', body.id).executeTakeFirstOrThrow();
    assert.ok(!row.secret_sealed.includes(body.secret.slice(6)));
    assert.match(row.secret_sealed, /^v1\./);
  });

  it('omitted events mean all; unknown types are a 400 naming the item', async () => {
    const all = await create({ url: 'https://hooks.example.com/all' });
    assert.deepEqual(all.json().events, ['*']);
    const bad = await create({ url: 'https://hooks.example.com/x', events: ['message.sent', 'message.nope'] });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json().errors[0], { message: 'unknown event type "message.nope"', field: 'events.1', code: 'invalid_event_type' });
  });

  for (const [url, code] of [
    ['https://127.0.0.1/hook', 'webhook_url_forbidden'],
    ['https://10.0.0.1/hook', 'webhook_url_forbidden'],
    ['https://169.254.169.254/latest/meta-data', 'webhook_url_forbidden'],
    ['https://[::1]/hook', 'webhook_url_forbidden'],
    ['https://[::ffff:127.0.0.1]/hook', 'webhook_url_forbidden'],
    ['https://rebind.example.com/hook', 'webhook_url_forbidden'],
    ['http://hooks.example.com/hook', 'webhook_url_invalid'],
    ['https://nowhere.example.com/hook', 'webhook_url_unresolvable'],
  ] as const) {
    it(`refuses ${url} with ${code}, and creates nothing`, async () => {
      const before = await h.database.db.selectFrom('webhooks').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      const res = await create({ url });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().errors[0].code, code);
      assert.equal(res.json().errors[0].field, 'url');
      const afterCount = await h.database.db.selectFrom('webhooks').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      assert.equal(Number(afterCount.n), Number(before.n));
    });
  }

  it('another key sees a 404, and an admin lists across keys', async () => {
    const { id } = (await create({ url: 'https://hooks.example.com/alice' })).json();
    for (const [method, url] of [
      ['GET', `/v1/webhooks/${id}`],
      ['PATCH', `/v1/webhooks/${id}`],
      ['DELETE', `/v1/webhooks/${id}`],
      ['POST', `/v1/webhooks/${id}/rotate-secret`],
      ['POST', `/v1/webhooks/${id}/test`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
    ] as const) {
      const res = await h.call({ method, url, auth: bob.secret, ...(method === 'PATCH' ? { headers: json, payload: { enabled: false } } : {}) });
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    }
    const mine = (await h.call({ method: 'GET', url: '/v1/webhooks', auth: bob.secret })).json();
    assert.equal(mine.total, 0);
    const all = (await h.call({ method: 'GET', url: `/v1/webhooks?key_id=${alice.id}` })).json();
    assert.ok(all.data.some((w: { id: string }) => w.id === id));
    assert.equal((await h.call({ method: 'GET', url: `/v1/webhooks?key_id=${alice.id}`, auth: bob.secret })).statusCode, 403);
  });

  it('PATCH re-checks the URL, and disabling through the API says so', async () => {
    const { id } = (await create({ url: 'https://hooks.example.com/p' })).json();
    const refused = await h.call({ method: 'PATCH', url: `/v1/webhooks/${id}`, auth: alice.secret, headers: json, payload: { url: 'https://10.1.2.3/' } });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().errors[0].code, 'webhook_url_forbidden');
    const allowed = await h.call({ method: 'PATCH', url: `/v1/webhooks/${id}`, auth: alice.secret, headers: json, payload: { url: 'http://allowed.local:8080/dev' } });
    // allowed.local does not resolve here: the allowance lifts the scheme and address rules, not resolution.
    assert.equal(allowed.json().errors?.[0]?.code, 'webhook_url_unresolvable');
    const off = await h.call({ method: 'PATCH', url: `/v1/webhooks/${id}`, auth: alice.secret, headers: json, payload: { enabled: false } });
    assert.equal(off.json().enabled, false);
    assert.equal(off.json().disabled_reason, 'disabled through the API');
    const on = await h.call({ method: 'PATCH', url: `/v1/webhooks/${id}`, auth: alice.secret, headers: json, payload: { enabled: true } });
    assert.equal(on.json().enabled, true);
    assert.equal(on.json().disabled_reason, null);
    const test = await h.call({ method: 'DELETE', url: `/v1/webhooks/${id}`, auth: alice.secret });
    assert.equal(test.statusCode, 204);
    assert.equal((await h.call({ method: 'GET', url: `/v1/webhooks/${id}`, auth: alice.secret })).statusCode, 404);
  });

  it('rotating shows the new secret once and keeps the old one for 24 hours', async () => {
    const first = (await create({ url: 'https://hooks.example.com/r' })).json();
    const rotated = await h.call({ method: 'POST', url: `/v1/webhooks/${first.id}/rotate-secret`, auth: alice.secret });
    assert.equal(rotated.statusCode, 200);
    assert.notEqual(rotated.json().secret, first.secret);
    const expires = Date.parse(rotated.json().previous_secret_expires_at);
    assert.ok(Math.abs(expires - (Date.now() + 24 * 3_600_000)) < 60_000);
  });

  it('an idempotent create replays the endpoint without its secret', async () => {
    const headers = { 'idempotency-key': 'wh-create-1' };
    const first = await create({ url: 'https://hooks.example.com/idem' }, alice.secret, headers);
    const again = await create({ url: 'https://hooks.example.com/idem' }, alice.secret, headers);
    assert.equal(first.statusCode, 201);
    assert.equal(again.statusCode, 201);
    assert.equal(again.json().id, first.json().id);
    assert.equal(again.json().secret, undefined);
    const stored = await h.database.db.selectFrom('idempotency_keys').selectAll().execute();
    assert.ok(!JSON.stringify(stored).includes(first.json().secret));
  });

  it('the OpenAPI document describes every event type under webhooks', async () => {
    const doc = (await h.call({ method: 'GET', url: '/openapi.json', auth: null })).json();
    for (const type of ['message.sent', 'message.bounced', 'message.opened', 'campaign.sent', 'contact.unsubscribed', 'webhook.test']) {
      const schema = doc.webhooks[type].post.requestBody.content['application/json'].schema;
      assert.ok(schema.properties.data.properties, type);
    }
    assert.ok(doc.webhooks['message.deferred'].post.requestBody.content['application/json'].schema.properties.data.properties.retry_at);
    assert.ok(doc.paths['/v1/webhooks/{id}/deliveries/{delivery_id}/retry']);
  });
});
