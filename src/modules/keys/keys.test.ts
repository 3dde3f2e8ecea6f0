import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };

describeEachEngine('api keys', (engine) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(engine);
  });
  after(() => h.close());

  it('an admin creates a key whose secret works once shown, and is stored hashed', async () => {
    const res = await h.call({ method: 'POST', url: '/v1/keys', headers: json, payload: { name: 'shop', domains: ['shop.example'] } });
    assert.equal(res.statusCode, 201);
    const created = res.json();
    assert.match(created.id, /^key_[0-9a-z]+$/);
    assert.match(created.key, /^md_/);
    assert.equal(created.admin, false);

    const own = await h.call({ method: 'GET', url: '/v1/keys', auth: created.key });
    assert.equal(own.statusCode, 200);
    assert.deepEqual(own.json().data.map((k: { id: string }) => k.id), [created.id]);
    assert.equal(own.json().data[0].key, undefined, 'the secret is never listed');

    const stored = await h.database.db.selectFrom('api_keys').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    assert.notEqual(stored.secret_hash, created.key);
    assert.equal(stored.secret_hash.length, 64);

    const domains = await h.call({ method: 'GET', url: '/v1/domains', auth: created.key });
    assert.deepEqual(domains.json().data.map((d: { domain: string; verified_by: string }) => [d.domain, d.verified_by]), [['shop.example', 'operator']]);
  });

  it('only an admin creates or revokes keys (403), and lists every key', async () => {
    const plain = await h.newKey('plain');
    const create = await h.call({ method: 'POST', url: '/v1/keys', headers: json, payload: { name: 'x' }, auth: plain.secret });
    assert.equal(create.statusCode, 403);
    assert.equal(create.json().errors[0].code, 'admin_required');
    const revoke = await h.call({ method: 'DELETE', url: `/v1/keys/${plain.id}`, auth: plain.secret });
    assert.equal(revoke.statusCode, 403);
    const all = await h.call({ method: 'GET', url: '/v1/keys?limit=1000' });
    assert.ok(all.json().data.some((k: { id: string }) => k.id === plain.id));
    assert.ok(all.json().total >= 2);
  });

  it('a revoked key gets 401 at once; revoking twice or an unknown id is 404', async () => {
    const victim = await h.newKey('victim');
    assert.equal((await h.call({ method: 'GET', url: '/v1/keys', auth: victim.secret })).statusCode, 200);
    assert.equal((await h.call({ method: 'DELETE', url: `/v1/keys/${victim.id}` })).statusCode, 204);
    const after = await h.call({ method: 'GET', url: '/v1/keys', auth: victim.secret });
    assert.equal(after.statusCode, 401);
    assert.equal(after.json().errors[0].code, 'invalid_api_key');
    assert.equal((await h.call({ method: 'DELETE', url: `/v1/keys/${victim.id}` })).statusCode, 404);
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/keys/key_doesnotexist' })).statusCode, 404);
  });

  it('the first start creates one admin key; later starts and a configured secret do not add more', async () => {
    const { keys } = h.context.services;
    assert.equal(await keys.ensureAdminKey(null), null, 'an admin key already exists');
    assert.equal(await keys.ensureAdminKey('md_test_admin_secret_0123456789abcdef'), null, 'the configured key exists');
    const configured = await keys.ensureAdminKey('another-configured-secret-1234');
    assert.equal(configured?.created.admin, true);
    assert.equal(configured?.secret, null, 'a configured secret is never printed');
    assert.ok(await keys.authenticate('another-configured-secret-1234'));
  });
});
