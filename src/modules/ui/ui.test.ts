import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { ADMIN_SECRET, startHarness, type Harness } from '../../../test/support/harness.ts';
import { createSealedBox } from '../../lib/sealed-box.ts';
import { loadUiAssets } from './assets.ts';
import { dashboardRoutes } from './routes.ts';
import { createUiSessions, type UiSessions } from './session.ts';

/** A stand-in build: the server side does not depend on what Vite made, only on the file layout. */
function fakeBuild(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailerdash-ui-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/ui/assets/index-AbCd1234.js"></script>');
  writeFileSync(path.join(dir, 'assets', 'index-AbCd1234.js'), `console.log(${JSON.stringify('x'.repeat(4000))});\n`);
  return dir;
}

const cookieOf = (setCookie: string | string[] | undefined): string => {
  const header = Array.isArray(setCookie) ? setCookie[0]! : setCookie!;
  return header.split(';')[0]!;
};

describeEachEngine('dashboard: sessions, cookie auth, CSRF, assets', (engine) => {
  let h: Harness;
  let uiDir: string;
  before(async () => {
    uiDir = fakeBuild();
    h = await startHarness(engine, { MAILERDASH_UI_DIR: uiDir });
  });
  after(async () => {
    await h.close();
    rmSync(uiDir, { recursive: true, force: true });
  });

  const signIn = async (key: string) => {
    const res = await h.call({ method: 'POST', url: '/ui/session', payload: { key }, auth: null });
    assert.equal(res.statusCode, 200, res.body);
    return { cookie: cookieOf(res.headers['set-cookie']), csrf: res.json().csrf_token as string, res };
  };

  it('exchanges an API key for an httpOnly SameSite=Strict cookie with an expiry; a wrong key gets 401 and no cookie', async () => {
    const alice = await h.newKey('alice');
    const { res, cookie } = await signIn(alice.secret);
    const setCookie = String(res.headers['set-cookie']);
    assert.match(setCookie, /^mailerdash_session=v1\./);
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${12 * 3600}`]) assert.ok(setCookie.includes(attribute), `${attribute} in ${setCookie}`);
    assert.ok(!setCookie.includes(alice.secret), 'the API key itself is not in the cookie');
    assert.deepEqual({ ...(res.json() as object), csrf_token: 'x', expires_at: 'x' }, { key_id: alice.id, name: 'alice', admin: false, csrf_token: 'x', expires_at: 'x' });
    assert.equal(res.headers['cache-control'], 'no-store');

    const me = await h.call({ method: 'GET', url: '/ui/session', headers: { cookie }, auth: null });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().key_id, alice.id);

    const wrong = await h.call({ method: 'POST', url: '/ui/session', payload: { key: 'md_not_a_key' }, auth: null });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().errors[0].code, 'invalid_api_key');
    assert.equal(wrong.headers['set-cookie'], undefined);
    assert.equal((await h.call({ method: 'GET', url: '/ui/session', auth: null })).statusCode, 401);
  });

  it('the API accepts the cookie, scoped to its key: another key\'s object is a 404, key_id is admin only', async () => {
    const alice = await h.newKey('alice-scope');
    const bob = await h.newKey('bob-scope');
    const aliceList = (await h.call({ method: 'POST', url: '/v1/bulk/lists', payload: { name: 'Alice news' }, auth: alice.secret })).json().id as string;
    const bobList = (await h.call({ method: 'POST', url: '/v1/bulk/lists', payload: { name: 'Bob news' }, auth: bob.secret })).json().id as string;
    const { cookie } = await signIn(alice.secret);

    const lists = await h.call({ method: 'GET', url: '/v1/bulk/lists', headers: { cookie }, auth: null });
    assert.equal(lists.statusCode, 200);
    assert.deepEqual(lists.json().data.map((l: { id: string }) => l.id), [aliceList]);
    assert.equal((await h.call({ method: 'GET', url: `/v1/bulk/lists/${bobList}`, headers: { cookie }, auth: null })).statusCode, 404);
    assert.equal((await h.call({ method: 'GET', url: `/v1/bulk/lists?key_id=${bob.id}`, headers: { cookie }, auth: null })).statusCode, 403);

    const admin = await signIn(ADMIN_SECRET);
    assert.equal(admin.res.json().admin, true);
    const bobs = await h.call({ method: 'GET', url: `/v1/bulk/lists?key_id=${bob.id}`, headers: { cookie: admin.cookie }, auth: null });
    assert.deepEqual(bobs.json().data.map((l: { id: string }) => l.id), [bobList]);

    // The first character of the GCM tag (a last base64 character may carry unused bits).
    const [name, version, iv, tag, data] = cookie.split(/[=.]/);
    const forged = `${name}=${version}.${iv}.${tag![0] === 'A' ? 'B' : 'A'}${tag!.slice(1)}.${data}`;
    const res = await h.call({ method: 'GET', url: '/v1/bulk/lists', headers: { cookie: forged }, auth: null });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().errors[0].code, 'session_expired');
  });

  it('a cookie-authenticated mutation needs the session\'s CSRF token; without it nothing changes. A bearer key needs none', async () => {
    const carol = await h.newKey('carol');
    const { cookie, csrf } = await signIn(carol.secret);
    const count = async () => (await h.call({ method: 'GET', url: '/v1/bulk/lists', auth: carol.secret })).json().total as number;

    for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'not-the-token' }, { cookie, 'x-csrf-token': (await signIn(carol.secret)).csrf }]) {
      const res = await h.call({ method: 'POST', url: '/v1/bulk/lists', payload: { name: 'Forged' }, headers, auth: null });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().errors[0].code, 'csrf_token_invalid');
    }
    assert.equal(await count(), 0);
    const ok = await h.call({ method: 'POST', url: '/v1/bulk/lists', payload: { name: 'Real' }, headers: { cookie, 'x-csrf-token': csrf }, auth: null });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(ok.json().key_id, carol.id);
    assert.equal((await h.call({ method: 'POST', url: '/v1/bulk/lists', payload: { name: 'Bearer' }, auth: carol.secret })).statusCode, 201);
    assert.equal(await count(), 2);
  });

  it('signing out needs the CSRF token and clears the cookie; a revoked key ends its sessions', async () => {
    const dave = await h.newKey('dave');
    const { cookie, csrf } = await signIn(dave.secret);
    assert.equal((await h.call({ method: 'DELETE', url: '/ui/session', headers: { cookie }, auth: null })).statusCode, 403);
    const out = await h.call({ method: 'DELETE', url: '/ui/session', headers: { cookie, 'x-csrf-token': csrf }, auth: null });
    assert.equal(out.statusCode, 204);
    assert.match(String(out.headers['set-cookie']), /^mailerdash_session=; .*Max-Age=0/);

    const again = await signIn(dave.secret);
    assert.equal((await h.call({ method: 'DELETE', url: `/v1/keys/${dave.id}` })).statusCode, 204);
    assert.equal((await h.call({ method: 'GET', url: '/v1/bulk/lists', headers: { cookie: again.cookie }, auth: null })).statusCode, 401);
    assert.equal((await h.call({ method: 'POST', url: '/ui/session', payload: { key: dave.secret }, auth: null })).statusCode, 401);
  });

  it('a session ends at its expiry (clock injected)', async () => {
    const erin = await h.newKey('erin');
    let now = Date.UTC(2026, 11, 1);
    const sessions = createUiSessions({
      keys: h.context.services.keys,
      box: createSealedBox(async () => 'a-test-secret-of-at-least-32-characters', 'ui-sessions'),
      ttlMs: 3_600_000,
      now: () => now,
    });
    const { cookie, session } = await sessions.signIn(erin.secret);
    assert.equal(session.expiresAt.getTime(), now + 3_600_000);
    now += 3_599_000;
    assert.equal((await sessions.read(cookie))?.principal.keyId, erin.id);
    now += 1_000;
    assert.equal(await sessions.read(cookie), null);
    const other = createUiSessions({ keys: h.context.services.keys, box: createSealedBox(async () => 'another-secret-of-at-least-32-characters', 'ui-sessions'), ttlMs: 3_600_000 });
    assert.equal(await other.read((await sessions.signIn(erin.secret)).cookie), null, 'a cookie sealed under another secret is refused');
  });

  it('serves the dashboard with a strict CSP, immutable hashed assets, a revalidated index, gzip and 304', async () => {
    const index = await h.call({ method: 'GET', url: '/ui', auth: null });
    assert.equal(index.statusCode, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    const csp = String(index.headers['content-security-policy']);
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) assert.ok(csp.includes(directive), directive);
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval') && !/https?:/.test(csp), csp);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.equal(index.headers['x-frame-options'], 'DENY');

    const page = await h.call({ method: 'GET', url: '/ui/campaigns/camp_1', auth: null });
    assert.equal(page.body, index.body, 'a page of the single-page app is the index');

    const asset = await h.call({ method: 'GET', url: '/ui/assets/index-AbCd1234.js', headers: { 'accept-encoding': 'gzip, br' }, auth: null });
    assert.equal(asset.statusCode, 200);
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(asset.headers['content-encoding'], 'gzip');
    assert.match(gunzipSync(asset.rawPayload).toString(), /^console\.log/);
    assert.ok(asset.rawPayload.length < 1000);
    assert.ok(asset.headers['content-security-policy']);
    const plain = await h.call({ method: 'GET', url: '/ui/assets/index-AbCd1234.js', auth: null });
    assert.equal(plain.headers['content-encoding'], undefined);
    const revalidated = await h.call({ method: 'GET', url: '/ui/assets/index-AbCd1234.js', headers: { 'if-none-match': String(plain.headers.etag) }, auth: null });
    assert.equal(revalidated.statusCode, 304);

    assert.equal((await h.call({ method: 'GET', url: '/ui/assets/gone-12345678.js', auth: null })).statusCode, 404);
    for (const url of ['/ui/../package.json', '/ui/assets/../../package.json', '/ui/%2e%2e/package.json']) {
      const res = await h.call({ method: 'GET', url, auth: null });
      assert.ok(!res.body.includes('"name": "mailerdash"'), url);
    }
    const root = await h.call({ method: 'GET', url: '/', auth: null });
    assert.equal(root.statusCode, 302);
    assert.equal(root.headers.location, '/ui/');
  });
});

describe('dashboard without a build', () => {
  it('answers 503 naming the build command', async () => {
    assert.equal(loadUiAssets(path.join(tmpdir(), 'mailerdash-no-such-build')), null);
    // The 503 path never reaches the sessions.
    const app = Fastify();
    await app.register(dashboardRoutes, { sessions: {} as UiSessions, assets: null });
    try {
      const res = await app.inject({ method: 'GET', url: '/ui/' });
      assert.equal(res.statusCode, 503);
      assert.match(res.body, /npm run build/);
      assert.ok(res.headers['content-security-policy']);
    } finally {
      await app.close();
    }
  });
});
