import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { markContactStatus } from '../addresses/standing.ts';

const json = { 'content-type': 'application/json' };
type Key = { id: string; secret: string };

describeEachEngine('contacts', (engine) => {
  let h: Harness;
  let alice: Key;
  let bob: Key;

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(() => h.close());

  const post = (key: Key, url: string, payload: unknown) => h.call({ method: 'POST', url, headers: json, payload: JSON.stringify(payload), auth: key.secret });
  const get = (key: Key, url: string) => h.call({ method: 'GET', url, auth: key.secret });
  const count = async (key: Key) => (await get(key, '/v1/bulk/contacts?limit=1')).json().total as number;

  it('creates a contact with metadata (the seed\'s curl) and answers 201 with the full contact', async () => {
    const res = await post(alice, '/v1/bulk/contacts', { email: 'ana@empresa.com', name: 'Ana García', metadata: { plan: 'pro', signup_source: 'landing' } });
    assert.equal(res.statusCode, 201);
    const c = res.json();
    assert.equal(typeof c.id, 'number');
    assert.deepEqual(
      { email: c.email, name: c.name, metadata: c.metadata, status: c.status, key_id: c.key_id },
      { email: 'ana@empresa.com', name: 'Ana García', metadata: { plan: 'pro', signup_source: 'landing' }, status: 'active', key_id: alice.id },
    );
    assert.match(c.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(c.updated_at, /Z$/);
  });

  it('upserts by email case-insensitively, keeping the stored spelling and id', async () => {
    const first = await post(alice, '/v1/bulk/contacts', { email: 'Luis@Example.com', name: 'Luis' });
    const second = await post(alice, '/v1/bulk/contacts', { email: 'luis@example.COM', metadata: { plan: 'free' } });
    assert.equal(second.statusCode, 201);
    assert.equal(second.json().id, first.json().id);
    assert.equal(second.json().email, 'Luis@Example.com');
    assert.equal(second.json().name, 'Luis');
    assert.deepEqual(second.json().metadata, { plan: 'free' });
    const fetched = await get(alice, '/v1/bulk/contacts/LUIS%40example.com');
    assert.equal(fetched.statusCode, 200);
    assert.equal(fetched.json().id, first.json().id);
  });

  it('refuses bad contact bodies with the error envelope and changes nothing', async () => {
    const before = await count(alice);
    const cases: [unknown, string, string | null][] = [
      [{ email: 'not-an-email' }, 'invalid_email', 'email'],
      [{ name: 'x' }, 'required', 'email'],
      [{ email: 'a@b.co', metadata: [1, 2] }, 'invalid_metadata', 'metadata'],
      [{ email: 'a@b.co', metadata: 'plan' }, 'invalid_metadata', 'metadata'],
      [{ email: 'a@b.co', name: 'x'.repeat(300) }, 'too_long', 'name'],
      [{ email: `${'a'.repeat(250)}@b.co` }, 'too_long', 'email'],
      [{ email: 'a@b.co', color: 'red' }, 'unsupported_field', 'color'],
      [[{ email: 'a@b.co' }], 'invalid_value', null],
    ];
    for (const [body, code, field] of cases) {
      const res = await post(alice, '/v1/bulk/contacts', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().errors[0].code, code, JSON.stringify(body));
      assert.equal(res.json().errors[0].field, field, JSON.stringify(body));
    }
    const notJson = await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: { 'content-type': 'text/plain' }, payload: 'email=a@b.co', auth: alice.secret });
    assert.equal(notJson.statusCode, 415);
    assert.ok(notJson.json().errors[0].code);
    const broken = await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: json, payload: '{"email":', auth: alice.secret });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().errors[0].code, 'invalid_json');
    assert.equal(await count(alice), before);
  });

  it('lists with pagination, status filter and search by email or name (q and search)', async () => {
    for (const [email, name] of [['zoe@list.test', 'Zoe Zapata'], ['yan@list.test', 'Yan'], ['xia@other.test', 'Xia']]) {
      await post(bob, '/v1/bulk/contacts', { email, name });
    }
    await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/yan@list.test', headers: json, payload: { status: 'bounced' }, auth: bob.secret });
    const page = await get(bob, '/v1/bulk/contacts?limit=2&offset=1');
    assert.equal(page.statusCode, 200);
    assert.deepEqual({ total: page.json().total, limit: page.json().limit, offset: page.json().offset }, { total: 3, limit: 2, offset: 1 });
    assert.deepEqual(page.json().data.map((c: { email: string }) => c.email), ['yan@list.test', 'xia@other.test']);
    const bounced = await get(bob, '/v1/bulk/contacts?status=bounced');
    assert.deepEqual(bounced.json().data.map((c: { email: string }) => c.email), ['yan@list.test']);
    assert.deepEqual((await get(bob, '/v1/bulk/contacts?q=LIST.test')).json().data.map((c: { email: string }) => c.email), ['zoe@list.test', 'yan@list.test']);
    assert.deepEqual((await get(bob, '/v1/bulk/contacts?search=zapata')).json().data.map((c: { email: string }) => c.email), ['zoe@list.test']);
    assert.equal((await get(bob, '/v1/bulk/contacts?q=%25')).json().total, 0);
    for (const bad of ['status=gone', 'limit=0', 'limit=1001', 'offset=-1', 'format=xml']) {
      const res = await get(bob, `/v1/bulk/contacts?${bad}`);
      assert.equal(res.statusCode, 400, bad);
      assert.ok(res.json().errors[0].code, bad);
    }
  });

  it('keeps keys apart: another key\'s contact is 404, key_id is admin-only', async () => {
    await post(bob, '/v1/bulk/contacts', { email: 'secret@bob.test' });
    assert.equal((await get(alice, '/v1/bulk/contacts/secret@bob.test')).statusCode, 404);
    assert.equal((await get(alice, '/v1/bulk/contacts/secret@bob.test/engagement')).statusCode, 404);
    const patch = await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/secret@bob.test', headers: json, payload: { name: 'x' }, auth: alice.secret });
    assert.equal(patch.statusCode, 404);
    assert.equal(patch.json().errors[0].code, 'not_found');
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/bulk/contacts/secret@bob.test', auth: alice.secret })).statusCode, 404);
    assert.ok(!(await get(alice, '/v1/bulk/contacts?q=secret')).json().data.length);
    const forbidden = await get(alice, `/v1/bulk/contacts?key_id=${bob.id}`);
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.json().errors[0].field, 'key_id');
    const admin = await h.call({ method: 'GET', url: `/v1/bulk/contacts?key_id=${bob.id}&q=secret` });
    assert.equal(admin.statusCode, 200);
    assert.deepEqual(admin.json().data.map((c: { key_id: string }) => c.key_id), [bob.id]);
    assert.equal((await get(bob, '/v1/bulk/contacts/secret@bob.test')).json().name, null);
  });

  it('PATCH updates name, merges metadata and drops keys set to null', async () => {
    await post(alice, '/v1/bulk/contacts', { email: 'meta@a.test', name: 'M', metadata: { plan: 'pro', region: 'CDMX', x: 1 } });
    const res = await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/meta%40a.test', headers: json, payload: { name: 'Ana García López', metadata: { plan: 'enterprise', x: null } }, auth: alice.secret });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().name, 'Ana García López');
    assert.deepEqual(res.json().metadata, { plan: 'enterprise', region: 'CDMX' });
    for (const [payload, code] of [[{ status: 'gone' }, 'invalid_value'], [{ metadata: 3 }, 'invalid_metadata'], [{ email: 'x@y.z' }, 'unsupported_field']] as const) {
      const bad = await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/meta@a.test', headers: json, payload, auth: alice.secret });
      assert.equal(bad.statusCode, 400, JSON.stringify(payload));
      assert.equal(bad.json().errors[0].code, code);
    }
    assert.deepEqual((await get(alice, '/v1/bulk/contacts/meta@a.test')).json().metadata, { plan: 'enterprise', region: 'CDMX' });
    assert.equal((await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/nobody@a.test', headers: json, payload: { name: 'x' }, auth: alice.secret })).statusCode, 404);
  });

  it('a status of unsubscribed, bounced or complained suppresses the address; back to active unsuppresses, recorded', async () => {
    const { db } = h.database;
    await post(alice, '/v1/bulk/contacts', { email: 'Sub@A.test', name: 'S' });
    const suppressed = async () => db.selectFrom('suppressions').select(['reason', 'source_type']).where('key_id', '=', alice.id).where('email', '=', 'sub@a.test').executeTakeFirst();
    for (const [status, reason] of [['unsubscribed', 'unsubscribe'], ['bounced', 'bounce'], ['complained', 'complaint']] as const) {
      const res = await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/sub@a.test', headers: json, payload: { status }, auth: alice.secret });
      assert.equal(res.json().status, status);
      assert.deepEqual(await suppressed(), { reason, source_type: 'contact' });
      const active = await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/sub@a.test', headers: json, payload: { status: 'active' }, auth: alice.secret });
      assert.equal(active.json().status, 'active');
      assert.equal(await suppressed(), undefined);
    }
    const events = await db.selectFrom('contact_events').select(['type', 'from_status', 'to_status', 'source']).where('key_id', '=', alice.id).where('email', '=', 'Sub@A.test').orderBy('id').execute();
    assert.deepEqual(events.filter((e) => e.type === 'unsuppressed').length, 3);
    assert.deepEqual(events.filter((e) => e.type === 'status_changed').map((e) => e.to_status), ['unsubscribed', 'active', 'bounced', 'active', 'complained', 'active']);
    assert.ok(events.every((e) => e.source === 'api'));
    // Bob's list is untouched by Alice's contact.
    assert.equal((await db.selectFrom('suppressions').select('email').where('key_id', '=', bob.id).where('email', '=', 'sub@a.test').execute()).length, 0);
  });

  it('re-creating or importing an unsubscribed contact never makes it active again', async () => {
    await post(alice, '/v1/bulk/contacts', { email: 'gone@a.test' });
    await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/gone@a.test', headers: json, payload: { status: 'unsubscribed' }, auth: alice.secret });
    const upsert = await post(alice, '/v1/bulk/contacts', { email: 'GONE@a.test', name: 'Back' });
    assert.equal(upsert.json().status, 'unsubscribed');
    const imported = await post(alice, '/v1/bulk/contacts/import', [{ email: 'gone@a.test', name: 'Again' }]);
    assert.deepEqual(imported.json(), { created: 0, updated: 1, failed: 0, errors: [] });
    const now = (await get(alice, '/v1/bulk/contacts/gone@a.test')).json();
    assert.equal(now.status, 'unsubscribed');
    assert.equal(now.name, 'Again');
  });

  it('engagement with no sends: empty sends, zero totals, dormant', async () => {
    await post(alice, '/v1/bulk/contacts', { email: 'eng@a.test' });
    const res = await get(alice, '/v1/bulk/contacts/eng%40a.test/engagement');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { email: 'eng@a.test', sends: [], totals: { sends: 0, opens: 0, clicks: 0 }, score: 'dormant', last_engagement_at: null });
    assert.equal((await get(alice, '/v1/bulk/contacts/none@a.test/engagement')).statusCode, 404);
  });

  it('deletes a contact with 204, then 404', async () => {
    await post(alice, '/v1/bulk/contacts', { email: 'del@a.test' });
    const res = await h.call({ method: 'DELETE', url: '/v1/bulk/contacts/DEL%40a.test', auth: alice.secret });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal((await get(alice, '/v1/bulk/contacts/del@a.test')).statusCode, 404);
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/bulk/contacts/del@a.test', auth: alice.secret })).statusCode, 404);
  });

  it('import-preview counts existing addresses and changes nothing', async () => {
    await post(alice, '/v1/bulk/contacts', { email: 'pre@a.test' });
    const before = await count(alice);
    const res = await post(alice, '/v1/bulk/contacts/import-preview', { emails: ['PRE@a.test', 'nuevo@dominio.com', 'pre@a.test', 'secret@bob.test'] });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { existing: ['PRE@a.test'], total_unique: 3, total_received: 4 });
    assert.equal(await count(alice), before);
    for (const body of [{}, { emails: 'x' }, { emails: [1] }, { emails: [], more: 1 }]) {
      const bad = await post(alice, '/v1/bulk/contacts/import-preview', body);
      assert.equal(bad.statusCode, 400, JSON.stringify(body));
    }
  });

  it('bulk delete is atomic and reports another key\'s address as not found', async () => {
    await post(alice, '/v1/bulk/contacts/import', [{ email: 'bd1@a.test' }, { email: 'bd2@a.test' }]);
    const before = await count(bob);
    const res = await post(alice, '/v1/bulk/contacts/delete', { emails: ['bd1@a.test', 'BD2@a.test', 'secret@bob.test', 'nobody@a.test'] });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { requested: 4, deleted: 2, not_found: ['secret@bob.test', 'nobody@a.test'], forbidden: [] });
    assert.equal(await count(bob), before);
    assert.equal((await get(alice, '/v1/bulk/contacts/bd1@a.test')).statusCode, 404);
    const bad = await post(alice, '/v1/bulk/contacts/delete', { emails: 'bd1@a.test' });
    assert.equal(bad.statusCode, 400);
  });

  it('markContactStatus: a bounce from delivery sets the status and suppresses with its source; unknown contacts are left alone', async () => {
    const { db } = h.database;
    await post(bob, '/v1/bulk/contacts', { email: 'Hard@Bounce.test' });
    const row = await markContactStatus(db, bob.id, 'hard@bounce.test', 'bounced', { type: 'message', id: 'msg_123' });
    assert.equal(row?.status, 'bounced');
    const entry = await db.selectFrom('suppressions').select(['reason', 'source_type', 'source_id']).where('key_id', '=', bob.id).where('email', '=', 'hard@bounce.test').executeTakeFirst();
    assert.deepEqual(entry, { reason: 'bounce', source_type: 'message', source_id: 'msg_123' });
    assert.equal(await markContactStatus(db, bob.id, 'nobody@bounce.test', 'bounced', { type: 'message' }), undefined);
    assert.equal(await markContactStatus(db, alice.id, 'hard@bounce.test', 'complained'), undefined);
    assert.equal((await get(bob, '/v1/bulk/contacts/hard@bounce.test')).json().status, 'bounced');
  });

  it('needs an API key', async () => {
    const res = await h.call({ method: 'GET', url: '/v1/bulk/contacts', auth: null });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().errors[0].code, 'missing_api_key');
  });
});
