import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { listMembersAfter } from './repo.ts';

const json = { 'content-type': 'application/json' };
type Key = { id: string; secret: string };

describeEachEngine('lists', (engine) => {
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
  const newList = async (key: Key, name: string) => (await call(key, 'POST', '/v1/bulk/lists', { name })).json();

  it('creates, gets, lists, renames and deletes a list', async () => {
    const created = await call(alice, 'POST', '/v1/bulk/lists', { name: 'Newsletter Q2', description: 'Quarterly' });
    assert.equal(created.statusCode, 201);
    const list = created.json();
    assert.match(list.id, /^newsletter-q2-[0-9a-f]{6}$/);
    assert.deepEqual(list.member_counts, { total: 0, active: 0, unsubscribed: 0, bounced: 0, complained: 0 });
    assert.equal(list.description, 'Quarterly');
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${list.id}`)).json().name, 'Newsletter Q2');
    const page = (await call(alice, 'GET', '/v1/bulk/lists')).json();
    assert.ok(page.data.some((l: { id: string }) => l.id === list.id));
    const renamed = await call(alice, 'PATCH', `/v1/bulk/lists/${list.id}`, { name: 'Newsletter', description: null });
    assert.deepEqual([renamed.statusCode, renamed.json().name, renamed.json().description, renamed.json().id], [200, 'Newsletter', null, list.id]);
    assert.equal((await call(alice, 'DELETE', `/v1/bulk/lists/${list.id}`)).statusCode, 204);
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${list.id}`)).statusCode, 404);
  });

  it('refuses bad list input and changes nothing', async () => {
    const before = (await call(alice, 'GET', '/v1/bulk/lists')).json().total;
    for (const body of [{}, { name: '' }, { name: 3 }, { name: 'x', owner: 'y' }]) {
      const res = await call(alice, 'POST', '/v1/bulk/lists', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.ok(res.json().errors[0].code);
    }
    assert.equal((await call(alice, 'GET', '/v1/bulk/lists')).json().total, before);
    const list = await newList(alice, 'Stable');
    assert.equal((await call(alice, 'PATCH', `/v1/bulk/lists/${list.id}`, { name: '   ' })).statusCode, 400);
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${list.id}`)).json().name, 'Stable');
    assert.equal((await call(alice, 'GET', '/v1/bulk/lists?limit=5000')).statusCode, 400);
  });

  it('adds members by emails or contact objects (upserted), with a 207 summary and per-entry errors', async () => {
    const list = await newList(alice, 'Members');
    await call(alice, 'POST', '/v1/bulk/contacts', { email: 'old@a.test', name: 'Old' });
    await call(alice, 'PATCH', '/v1/bulk/contacts/old@a.test', { status: 'unsubscribed' });
    const byEmail = await call(alice, 'POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: ['OLD@a.test', 'new@a.test', 'bad', 'new@a.test'] });
    assert.equal(byEmail.statusCode, 207);
    assert.deepEqual(byEmail.json(), {
      added: 2,
      already_member: 0,
      contacts_created: 1,
      failed: 2,
      errors: [
        { index: 2, email: 'bad', code: 'invalid_email', message: 'email is not a valid address' },
        { index: 3, email: 'new@a.test', code: 'duplicate', message: 'the address appears earlier in the same request' },
      ],
    });
    const byObject = await call(alice, 'POST', `/v1/bulk/lists/${list.id}/contacts`, [
      { email: 'new@a.test', name: 'New', metadata: { plan: 'pro' } },
      { email: 'third@a.test' },
      { email: 'meta@a.test', metadata: 'nope' },
    ]);
    assert.deepEqual(
      { ...(byObject.json() as object), errors: byObject.json().errors.map((e: { index: number; code: string }) => [e.index, e.code]) },
      { added: 1, already_member: 1, contacts_created: 1, failed: 1, errors: [[2, 'invalid_metadata']] },
    );
    const contact = (await call(alice, 'GET', '/v1/bulk/contacts/new@a.test')).json();
    assert.deepEqual([contact.name, contact.metadata], ['New', { plan: 'pro' }]);
    assert.equal((await call(alice, 'GET', '/v1/bulk/contacts/old@a.test')).json().status, 'unsubscribed');
    const got = (await call(alice, 'GET', `/v1/bulk/lists/${list.id}`)).json();
    assert.deepEqual(got.member_counts, { total: 3, active: 2, unsubscribed: 1, bounced: 0, complained: 0 });
    for (const body of [{ emails: 'x' }, { other: [] }, 'x']) {
      const res = await call(alice, 'POST', `/v1/bulk/lists/${list.id}/contacts`, body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
    }
  });

  it('lists members with status filter and pagination, and removes one', async () => {
    const list = await newList(alice, 'Paged');
    await call(alice, 'POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: ['p1@a.test', 'p2@a.test', 'p3@a.test'] });
    await call(alice, 'PATCH', '/v1/bulk/contacts/p2@a.test', { status: 'bounced' });
    const page = (await call(alice, 'GET', `/v1/bulk/lists/${list.id}/contacts?limit=2&offset=1`)).json();
    assert.deepEqual([page.total, page.limit, page.offset, page.data.map((c: { email: string }) => c.email)], [3, 2, 1, ['p2@a.test', 'p3@a.test']]);
    const bounced = (await call(alice, 'GET', `/v1/bulk/lists/${list.id}/contacts?status=bounced`)).json();
    assert.deepEqual(bounced.data.map((c: { email: string; status: string }) => [c.email, c.status]), [['p2@a.test', 'bounced']]);
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${list.id}/contacts?status=nope`)).statusCode, 400);
    assert.equal((await call(alice, 'DELETE', `/v1/bulk/lists/${list.id}/contacts/P1%40a.test`)).statusCode, 204);
    assert.equal((await call(alice, 'DELETE', `/v1/bulk/lists/${list.id}/contacts/p1@a.test`)).statusCode, 404);
    assert.equal((await call(alice, 'GET', '/v1/bulk/contacts/p1@a.test')).statusCode, 200);
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${list.id}`)).json().member_counts.total, 2);
  });

  it('a contact can be in many lists; deleting it removes its memberships; deleting a list keeps contacts', async () => {
    const one = await newList(alice, 'One');
    const two = await newList(alice, 'Two');
    for (const l of [one, two]) await call(alice, 'POST', `/v1/bulk/lists/${l.id}/contacts`, { emails: ['multi@a.test', 'stay@a.test'] });
    assert.equal((await call(alice, 'DELETE', '/v1/bulk/contacts/multi@a.test')).statusCode, 204);
    for (const l of [one, two]) assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${l.id}`)).json().member_counts.total, 1);
    assert.equal((await call(alice, 'DELETE', `/v1/bulk/lists/${one.id}`)).statusCode, 204);
    assert.equal((await call(alice, 'GET', '/v1/bulk/contacts/stay@a.test')).statusCode, 200);
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists/${two.id}`)).json().member_counts.total, 1);
  });

  it('walks members in contact id order in chunks for the dispatcher', async () => {
    const list = await newList(alice, 'Walk');
    const emails = Array.from({ length: 7 }, (_, i) => `walk${i}@a.test`);
    await call(alice, 'POST', '/v1/bulk/contacts/import', emails.map((email, i) => ({ email, name: `W${i}`, metadata: { i } })));
    await call(alice, 'POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: [...emails].reverse() });
    const seen: string[] = [];
    let after = 0;
    for (;;) {
      const chunk = await listMembersAfter(h.database.db, list.id, after, 3);
      if (!chunk.length) break;
      assert.ok(chunk.every((m, i) => i === 0 || m.id > chunk[i - 1]!.id));
      seen.push(...chunk.map((m) => m.email));
      after = chunk[chunk.length - 1]!.id;
      assert.equal(typeof chunk[0]!.metadata, 'object');
      assert.equal(chunk[0]!.status, 'active');
    }
    assert.deepEqual(seen, emails);
  });

  it('honours Idempotency-Key on list creation', async () => {
    const headers = { ...json, 'idempotency-key': 'list-1' };
    const first = await h.call({ method: 'POST', url: '/v1/bulk/lists', headers, payload: JSON.stringify({ name: 'Once' }), auth: alice.secret });
    const again = await h.call({ method: 'POST', url: '/v1/bulk/lists', headers, payload: JSON.stringify({ name: 'Once' }), auth: alice.secret });
    assert.deepEqual([again.statusCode, again.json().id], [201, first.json().id]);
    const page = (await call(alice, 'GET', '/v1/bulk/lists?limit=1000')).json().data as { name: string }[];
    assert.equal(page.filter((l) => l.name === 'Once').length, 1);
  });

  it('keeps keys apart: another key\'s list is 404 everywhere, key_id is admin-only', async () => {
    const list = await newList(bob, 'Bob list');
    await call(bob, 'POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: ['b@b.test'] });
    await call(alice, 'POST', '/v1/bulk/contacts', { email: 'b@b.test' });
    for (const [method, url, body] of [
      ['GET', `/v1/bulk/lists/${list.id}`],
      ['PATCH', `/v1/bulk/lists/${list.id}`, { name: 'mine' }],
      ['GET', `/v1/bulk/lists/${list.id}/contacts`],
      ['POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: ['b@b.test'] }],
      ['DELETE', `/v1/bulk/lists/${list.id}/contacts/b@b.test`],
      ['DELETE', `/v1/bulk/lists/${list.id}`],
    ] as const) {
      const res = await call(alice, method, url, body);
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.json().errors[0].code, 'not_found');
    }
    const mine = (await call(bob, 'GET', `/v1/bulk/lists/${list.id}`)).json();
    assert.deepEqual([mine.name, mine.member_counts.total], ['Bob list', 1]);
    assert.equal((await call(alice, 'GET', `/v1/bulk/lists?key_id=${bob.id}`)).statusCode, 403);
    const admin = (await h.call({ method: 'GET', url: `/v1/bulk/lists?key_id=${bob.id}` })).json();
    assert.deepEqual(admin.data.map((l: { id: string }) => l.id), [list.id]);
  });
});
