import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSesFake } from '../../../test/support/providers/ses-server.ts';
import { startPostmarkFake } from '../../../test/support/providers/postmark-server.ts';

const KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describeEachEngine('per-key providers API', (engine) => {
  let h: Harness;
  let ses: Awaited<ReturnType<typeof startSesFake>>;
  let postmark: Awaited<ReturnType<typeof startPostmarkFake>>;
  let tenant: { id: string; secret: string };
  let other: { id: string; secret: string };
  before(async () => {
    ses = await startSesFake({ region: 'eu-central-1', credentials: { [KEY]: SECRET } });
    postmark = await startPostmarkFake({ tokens: new Set(['pm-token-1234']) });
    h = await startHarness(engine, { MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
    tenant = await h.newKey('tenant');
    other = await h.newKey('other');
  });
  after(async () => {
    await h.close();
    await ses.close();
    await postmark.close();
  });

  const sesBody = (secret = SECRET) => ({ name: 'ses-a', type: 'ses', config: { region: 'eu-central-1', access_key_id: KEY, secret_access_key: secret, base_url: ses.url } });

  it('creates a provider, never answers its secrets, and seals them at rest', async () => {
    const created = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: sesBody() });
    assert.equal(created.statusCode, 201, created.body);
    const provider = created.json();
    assert.match(provider.id, /^prv_/);
    assert.deepEqual(provider.config, { type: 'ses', region: 'eu-central-1', access_key_id: KEY, base_url: ses.url });
    assert.deepEqual(provider.secrets_set, ['secret_access_key']);
    assert.equal(provider.events_path, `/v1/events/ses/${provider.id}`);
    assert.ok(!created.body.includes(SECRET));
    const fetched = await h.call({ method: 'GET', url: `/v1/providers/${provider.id}`, auth: tenant.secret });
    assert.ok(!fetched.body.includes(SECRET));
    const row = await h.database.db.selectFrom('providers').selectAll().where('id', '=', provider.id).executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(row).includes(SECRET) && !JSON.stringify(row).includes('wJalr'));
    assert.match(row.secrets_sealed, /^v1\./);
  });

  it('check() makes an authenticated call with the stored credentials; a wrong secret answers ok:false', async () => {
    const list = (await h.call({ method: 'GET', url: '/v1/providers', auth: tenant.secret })).json();
    const id = list.data[0].id;
    const good = await h.call({ method: 'POST', url: `/v1/providers/${id}/check`, auth: tenant.secret });
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(good.json().ok, true, good.body);
    assert.match(good.json().detail, /^ses eu-central-1: sending enabled/);
    const patched = await h.call({ method: 'PATCH', url: `/v1/providers/${id}`, auth: tenant.secret, payload: { config: { secret_access_key: 'wrong-secret' } } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.json().config.region, 'eu-central-1');
    const bad = (await h.call({ method: 'POST', url: `/v1/providers/${id}/check`, auth: tenant.secret })).json();
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /SignatureDoesNotMatch/);
    // A PATCH without the secret keeps the stored one.
    await h.call({ method: 'PATCH', url: `/v1/providers/${id}`, auth: tenant.secret, payload: { config: { secret_access_key: SECRET } } });
    await h.call({ method: 'PATCH', url: `/v1/providers/${id}`, auth: tenant.secret, payload: { name: 'ses-renamed' } });
    assert.equal((await h.call({ method: 'POST', url: `/v1/providers/${id}/check`, auth: tenant.secret })).json().ok, true);
  });

  it("another key's provider is a 404 for every route; an admin lists across keys", async () => {
    const id = (await h.call({ method: 'GET', url: '/v1/providers', auth: tenant.secret })).json().data[0].id;
    for (const [method, url] of [['GET', `/v1/providers/${id}`], ['PATCH', `/v1/providers/${id}`], ['DELETE', `/v1/providers/${id}`], ['POST', `/v1/providers/${id}/check`]] as const) {
      const response = await h.call({ method, url, auth: other.secret, ...(method === 'PATCH' ? { payload: { name: 'x' } } : {}) });
      assert.equal(response.statusCode, 404, `${method} ${url}: ${response.body}`);
    }
    assert.equal((await h.call({ method: 'GET', url: '/v1/providers', auth: other.secret })).json().total, 0);
    assert.equal((await h.call({ method: 'GET', url: `/v1/providers?key_id=${tenant.id}`, auth: other.secret })).statusCode, 403);
    const admin = (await h.call({ method: 'GET', url: `/v1/providers?key_id=${tenant.id}` })).json();
    assert.equal(admin.total, 1);
  });

  it('refuses bad configurations with 400s naming the field, a taken name with 409, and changes nothing', async () => {
    const before = (await h.call({ method: 'GET', url: '/v1/providers', auth: tenant.secret })).json().total;
    const badRegion = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { ...sesBody(), name: 'x', config: { ...sesBody().config, region: 'moon-1' } } });
    assert.equal(badRegion.statusCode, 400);
    assert.equal(badRegion.json().errors[0].field, 'region');
    const missing = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name: 'pm', type: 'postmark', config: {} } });
    assert.equal(missing.statusCode, 400);
    const loopback = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name: 'pm', type: 'postmark', config: { server_token: 't', base_url: 'http://169.254.169.254' } } });
    assert.equal(loopback.statusCode, 400, loopback.body);
    assert.equal(loopback.json().errors[0].field, 'config.base_url');
    const unknown = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name: 'q', type: 'sparkpost', config: {} } });
    assert.equal(unknown.statusCode, 400);
    await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name: 'pm', type: 'postmark', config: { server_token: 'pm-token-1234', base_url: postmark.url } } });
    const taken = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name: 'pm', type: 'postmark', config: { server_token: 'other-token', base_url: postmark.url } } });
    assert.equal(taken.statusCode, 409);
    assert.equal((await h.call({ method: 'GET', url: '/v1/providers', auth: tenant.secret })).json().total, before + 1);
  });

  it('deletes a provider: 204, then 404', async () => {
    const pm = (await h.call({ method: 'GET', url: '/v1/providers', auth: tenant.secret })).json().data.find((p: { name: string }) => p.name === 'pm');
    assert.equal((await h.call({ method: 'POST', url: `/v1/providers/${pm.id}/check`, auth: tenant.secret })).json().ok, true);
    assert.equal((await h.call({ method: 'DELETE', url: `/v1/providers/${pm.id}`, auth: tenant.secret })).statusCode, 204);
    assert.equal((await h.call({ method: 'GET', url: `/v1/providers/${pm.id}`, auth: tenant.secret })).statusCode, 404);
  });
});

describeEachEngine('provider events through the one feedback path', (engine) => {
  it('a verified post is applied by the real applyFeedback and its receipt kept; a forged one is a 401 that records nothing', async () => {
    const h = await startHarness(engine);
    try {
      const tenant = await h.newKey('t');
      const created = await h.call({ method: 'POST', url: '/v1/providers', auth: tenant.secret, payload: { name: 'pm', type: 'postmark', config: { server_token: 'x', webhook_token: 'postmark-token-0123456789' } } });
      const post = (token: string) =>
        h.call({ method: 'POST', url: `/v1/events/postmark/${created.json().id}`, auth: null, headers: { 'content-type': 'application/json', 'x-webhook-token': token }, payload: JSON.stringify({ RecordType: 'Open', Recipient: 'a@example.test' }) });
      assert.equal((await post('forged-token-0123456789abc')).statusCode, 401);
      assert.equal((await h.database.db.selectFrom('provider_event_receipts').selectAll().execute()).length, 0);
      const response = await post('postmark-token-0123456789');
      assert.ok(response.statusCode >= 200 && response.statusCode < 300, response.body);
      assert.equal((await h.database.db.selectFrom('provider_event_receipts').selectAll().execute()).length, 1);
    } finally {
      await h.close();
    }
  });
});
