import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };

describeEachEngine('suppressions API', (engine) => {
  let h: Harness;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(() => h.close());

  it('adds one or many by hand, reason manual and source api; duplicates keep their first entry', async () => {
    const one = await h.call({ method: 'POST', url: '/v1/suppressions', headers: json, payload: { email: 'One@Example.com' }, auth: alice.secret });
    assert.equal(one.statusCode, 201);
    assert.equal(one.json().added, 1);
    assert.deepEqual(
      { email: one.json().data[0].email, reason: one.json().data[0].reason, source_type: one.json().data[0].source_type, source_id: one.json().data[0].source_id },
      { email: 'one@example.com', reason: 'manual', source_type: 'api', source_id: alice.id },
    );
    await h.context.services.suppressions.suppress({ keyId: alice.id, email: 'gone@example.com', reason: 'bounce', sourceType: 'message', sourceId: 'msg_x' });
    const many = await h.call({
      method: 'POST',
      url: '/v1/suppressions',
      headers: json,
      payload: { emails: ['two@example.com', 'three@example.org', 'gone@example.com'] },
      auth: alice.secret,
    });
    assert.equal(many.statusCode, 201);
    assert.deepEqual([many.json().added, many.json().existing], [2, 1]);
    assert.equal(many.json().data.find((d: { email: string }) => d.email === 'gone@example.com').reason, 'bounce');
  });

  it('rejects bad addresses naming the field', async () => {
    const bad = await h.call({ method: 'POST', url: '/v1/suppressions', headers: json, payload: { emails: ['ok@example.com', 'nope'] }, auth: alice.secret });
    assert.equal(bad.statusCode, 400);
    assert.ok(bad.json().errors.some((e: { field: string }) => e.field === 'emails.1'));
    const none = await h.call({ method: 'GET', url: '/v1/suppressions/ok@example.com', auth: alice.secret });
    assert.equal(none.statusCode, 404);
  });

  it('lists with reason and text filters and pagination', async () => {
    const all = await h.call({ method: 'GET', url: '/v1/suppressions', auth: alice.secret });
    assert.equal(all.json().total, 4);
    const bounces = await h.call({ method: 'GET', url: '/v1/suppressions?reason=bounce', auth: alice.secret });
    assert.deepEqual(bounces.json().data.map((d: { email: string }) => d.email), ['gone@example.com']);
    assert.equal(bounces.json().data[0].source_type, 'message');
    assert.equal(bounces.json().data[0].source_id, 'msg_x');
    const q = await h.call({ method: 'GET', url: '/v1/suppressions?q=example.org', auth: alice.secret });
    assert.deepEqual(q.json().data.map((d: { email: string }) => d.email), ['three@example.org']);
    const page = await h.call({ method: 'GET', url: '/v1/suppressions?limit=3&offset=2', auth: alice.secret });
    assert.deepEqual([page.json().data.length, page.json().total, page.json().limit, page.json().offset], [2, 4, 3, 2]);
    const badReason = await h.call({ method: 'GET', url: '/v1/suppressions?reason=spam', auth: alice.secret });
    assert.equal(badReason.statusCode, 400);
  });

  it('deleting is explicit and recorded in the entry history', async () => {
    const del = await h.call({ method: 'DELETE', url: '/v1/suppressions/TWO@example.com', auth: alice.secret });
    assert.equal(del.statusCode, 204);
    assert.equal((await h.call({ method: 'GET', url: '/v1/suppressions/two@example.com', auth: alice.secret })).statusCode, 404);
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/suppressions/two@example.com', auth: alice.secret })).statusCode, 404);
    await h.call({ method: 'POST', url: '/v1/suppressions', headers: json, payload: { email: 'two@example.com' }, auth: alice.secret });
    const back = await h.call({ method: 'GET', url: '/v1/suppressions/two@example.com', auth: alice.secret });
    assert.deepEqual(
      back.json().history.map((e: { action: string; source_type: string }) => `${e.action}:${e.source_type}`),
      ['added:api', 'removed:api', 'added:api'],
    );
  });

  it("a key never sees another key's entries; only an admin filters by key_id", async () => {
    assert.equal((await h.call({ method: 'GET', url: '/v1/suppressions/one@example.com', auth: bob.secret })).statusCode, 404);
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/suppressions/one@example.com', auth: bob.secret })).statusCode, 404);
    assert.equal((await h.call({ method: 'GET', url: '/v1/suppressions', auth: bob.secret })).json().total, 0);
    assert.equal((await h.call({ method: 'GET', url: `/v1/suppressions?key_id=${alice.id}`, auth: bob.secret })).statusCode, 403);
    assert.equal((await h.call({ method: 'GET', url: `/v1/suppressions?key_id=${alice.id}` })).json().total, 4);
    assert.equal((await h.call({ method: 'GET', url: '/v1/suppressions', auth: null })).statusCode, 401);
  });

  it('a bounce, complaint or unsubscribe entry moves the contact; deleting the entry makes it active again', async () => {
    const db = h.database.db;
    await db.insertInto('contacts').values([{ key_id: alice.id, email: 'Sync@Example.com', name: null }, { key_id: alice.id, email: 'hand@example.com', name: null }]).execute();
    const status = async (email: string) => (await db.selectFrom('contacts').select('status').where('email', '=', email).executeTakeFirstOrThrow()).status;
    await h.context.services.suppressions.suppress({ keyId: alice.id, email: 'sync@example.com', reason: 'complaint', sourceType: 'provider', sourceId: 'evt_1' });
    assert.equal(await status('Sync@Example.com'), 'complained');
    await h.call({ method: 'POST', url: '/v1/suppressions', headers: json, payload: { email: 'hand@example.com' }, auth: alice.secret });
    assert.equal(await status('hand@example.com'), 'active');
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/suppressions/sync@example.com', auth: alice.secret })).statusCode, 204);
    assert.equal(await status('Sync@Example.com'), 'active');
  });
});
