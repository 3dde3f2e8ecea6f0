import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { Readable } from 'node:stream';
import { DomainError } from '../../errors.ts';
import { openPGliteStaging, openPostgresStaging } from './import-repo.ts';
import { csvRows } from './import-sources.ts';
import { MAX_REPORTED_ERRORS, runImport } from './import.ts';

const json = { 'content-type': 'application/json' };
type Key = { id: string; secret: string };

describeEachEngine('contacts import and export', (engine) => {
  let h: Harness;
  let alice: Key;
  let bob: Key;

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(() => h.close());

  const importAs = (key: Key, payload: string, type = 'application/json') =>
    h.call({ method: 'POST', url: '/v1/bulk/contacts/import', headers: { 'content-type': type }, payload, auth: key.secret });
  const count = async (key: Key) => (await h.call({ method: 'GET', url: '/v1/bulk/contacts?limit=1', auth: key.secret })).json().total as number;
  const contact = async (key: Key, email: string) => (await h.call({ method: 'GET', url: `/v1/bulk/contacts/${encodeURIComponent(email)}`, auth: key.secret })).json();

  it('imports the seed\'s JSON array with 207 {created, updated, failed, errors}', async () => {
    await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: json, payload: { email: 'maria@otro.com' }, auth: alice.secret });
    const res = await importAs(
      alice,
      JSON.stringify([
        { email: 'ana@empresa.com', name: 'Ana García', metadata: { plan: 'pro' } },
        { email: 'pedro@cliente.io', name: 'Pedro Sánchez' },
        { email: 'maria@otro.com' },
      ]),
    );
    assert.equal(res.statusCode, 207);
    assert.deepEqual(res.json(), { created: 2, updated: 1, failed: 0, errors: [] });
    assert.deepEqual((await contact(alice, 'ana@empresa.com')).metadata, { plan: 'pro' });
  });

  it('reports each bad row by index, email and reason while the others import', async () => {
    const before = await count(alice);
    const rows = [
      { email: 'good1@imp.test', name: 'G1' },
      { email: 'not an email' },
      { email: 'GOOD1@imp.test' },
      { email: `${'x'.repeat(250)}@imp.test` },
      { email: 'meta@imp.test', metadata: ['a'] },
      { name: 'no email' },
      'just a string',
      { email: 'good2@imp.test', name: 'n'.repeat(300) },
      { email: 'good3@imp.test', metadata: { tier: 2 } },
    ];
    const res = await importAs(alice, JSON.stringify(rows));
    assert.equal(res.statusCode, 207);
    const body = res.json();
    assert.deepEqual([body.created, body.updated, body.failed], [2, 0, 7]);
    assert.deepEqual(
      body.errors.map((e: { index: number; email: string | null; code: string }) => [e.index, e.email, e.code]),
      [
        [1, 'not an email', 'invalid_email'],
        [2, 'GOOD1@imp.test', 'duplicate'],
        [3, `${'x'.repeat(250)}@imp.test`, 'too_long'],
        [4, 'meta@imp.test', 'invalid_metadata'],
        [5, null, 'missing_email'],
        [6, null, 'missing_email'],
        [7, 'good2@imp.test', 'too_long'],
      ],
    );
    assert.ok(body.errors.every((e: { message: string }) => e.message.length > 0));
    assert.equal(await count(alice), before + 2);
    assert.equal((await contact(alice, 'good1@imp.test')).name, 'G1');
  });

  it('imports a spreadsheet CSV export as is: header row, quoted cells, BOM, extra columns as metadata', async () => {
    const csv =
      '\ufeffEmail,Name,plan,city\r\n' +
      'csv1@imp.test,"García, Ana",pro,CDMX\r\n' +
      'csv2@imp.test,,,\r\n' +
      'bad-address,Bad,free,\r\n' +
      '"csv3@imp.test","Line ""Q"" name",enterprise,"Multi\nline"\r\n';
    const res = await importAs(alice, csv, 'text/csv; charset=utf-8');
    assert.equal(res.statusCode, 207);
    assert.deepEqual(
      { ...(res.json() as object), errors: res.json().errors.map((e: { index: number; code: string }) => [e.index, e.code]) },
      { created: 3, updated: 0, failed: 1, errors: [[2, 'invalid_email']] },
    );
    const one = await contact(alice, 'csv1@imp.test');
    assert.deepEqual([one.name, one.metadata], ['García, Ana', { plan: 'pro', city: 'CDMX' }]);
    const two = await contact(alice, 'csv2@imp.test');
    assert.deepEqual([two.name, two.metadata], [null, {}]);
    assert.deepEqual((await contact(alice, 'csv3@imp.test')).metadata, { plan: 'enterprise', city: 'Multi\nline' });
  });

  it('accepts NDJSON, reporting unreadable lines as row errors', async () => {
    const res = await importAs(alice, '{"email":"nd1@imp.test","name":"N1"}\n\n{oops\n{"email":"nd2@imp.test"}\n', 'application/x-ndjson');
    assert.equal(res.statusCode, 207);
    assert.deepEqual(
      { ...(res.json() as object), errors: res.json().errors.map((e: { index: number; code: string }) => [e.index, e.code]) },
      { created: 2, updated: 0, failed: 1, errors: [[1, 'invalid_json']] },
    );
  });

  it('a second import updates name and metadata when given, keeps them when not, never the status', async () => {
    await importAs(alice, JSON.stringify([{ email: 'upd@imp.test', name: 'First', metadata: { a: 1 } }, { email: 'unsub@imp.test', name: 'U' }]));
    await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/unsub@imp.test', headers: json, payload: { status: 'complained' }, auth: alice.secret });
    const res = await importAs(alice, 'email,name\nUPD@imp.test,\nunsub@imp.test,Back\n', 'text/csv');
    assert.deepEqual(res.json(), { created: 0, updated: 2, failed: 0, errors: [] });
    const upd = await contact(alice, 'upd@imp.test');
    assert.deepEqual([upd.email, upd.name, upd.metadata], ['upd@imp.test', 'First', { a: 1 }]);
    const unsub = await contact(alice, 'unsub@imp.test');
    assert.deepEqual([unsub.name, unsub.status], ['Back', 'complained']);
    const replaced = await importAs(alice, JSON.stringify([{ email: 'upd@imp.test', metadata: { b: 2 } }]));
    assert.equal(replaced.json().updated, 1);
    assert.deepEqual((await contact(alice, 'upd@imp.test')).metadata, { b: 2 });
  });

  it('fails the whole request on an unreadable body and changes nothing', async () => {
    const before = await count(alice);
    const cases: [string, string, number, string][] = [
      ['[{"email":"x1@imp.test"}, {"email":', 'application/json', 400, 'invalid_json'],
      ['{"email":"x1@imp.test"}', 'application/json', 400, 'not_an_array'],
      ['[{"email":"x1@imp.test"},]', 'application/json', 400, 'invalid_json'],
      ['[{"email":"x1@imp.test"}] trailing', 'application/json', 400, 'invalid_json'],
      ['', 'application/json', 400, 'invalid_json'],
      ['name,plan\nAna,pro\n', 'text/csv', 400, 'missing_email_column'],
      ['email,name\n"x1@imp.test,unclosed\n', 'text/csv', 400, 'invalid_csv'],
      [`[{"email":"x1@imp.test","name":"${'n'.repeat(70_000)}"}]`, 'application/json', 413, 'row_too_large'],
    ];
    for (const [payload, type, status, code] of cases) {
      const res = await importAs(alice, payload, type);
      assert.equal(res.statusCode, status, `${type} ${payload.slice(0, 40)}`);
      assert.equal(res.json().errors[0].code, code, `${type} ${payload.slice(0, 40)}`);
    }
    const xml = await importAs(alice, '<contacts/>', 'application/xml');
    assert.equal(xml.statusCode, 415);
    assert.equal(await count(alice), before);
    assert.equal((await h.call({ method: 'GET', url: '/v1/bulk/contacts/x1@imp.test', auth: alice.secret })).statusCode, 404);
  });

  it('refuses an import over the row cap as a whole (413) and changes nothing', async () => {
    const dave = await h.newKey('dave');
    const staging = h.database.pool ? await openPostgresStaging(h.database.pool) : await openPGliteStaging(h.database.db);
    const body = Readable.from(['email\n', 'c1@cap.test\nc2@cap.test\n', 'c3@cap.test\n']);
    await assert.rejects(runImport(dave.id, csvRows(body), staging, 2), (e: unknown) => e instanceof DomainError && e.kind === 'too_large' && e.code === 'too_many_rows');
    assert.equal(await count(dave), 0);
  });

  it('an empty array imports nothing', async () => {
    assert.deepEqual((await importAs(alice, '[]')).json(), { created: 0, updated: 0, failed: 0, errors: [] });
  });

  it('lists at most the first errors and says so', async () => {
    const rows = Array.from({ length: MAX_REPORTED_ERRORS + 5 }, (_, i) => ({ email: `bad${i}` }));
    const body = (await importAs(alice, JSON.stringify(rows))).json();
    assert.equal(body.failed, MAX_REPORTED_ERRORS + 5);
    assert.equal(body.errors.length, MAX_REPORTED_ERRORS);
    assert.equal(body.errors_truncated, true);
    assert.equal(body.errors[0].index, 0);
  });

  it('imports into the calling key only', async () => {
    await importAs(bob, JSON.stringify([{ email: 'ana@empresa.com', name: 'Bob\'s Ana' }]));
    assert.equal((await contact(alice, 'ana@empresa.com')).name, 'Ana García');
    const bobs = await contact(bob, 'ana@empresa.com');
    assert.deepEqual([bobs.name, bobs.key_id], ['Bob\'s Ana', bob.id]);
  });

  it('exports CSV with metadata as JSON and formula cells escaped, filtered, for the key only', async () => {
    await importAs(bob, JSON.stringify([{ email: 'formula@exp.test', name: '=HYPERLINK("http://evil")', metadata: { plan: 'pro' } }, { email: 'plain@exp.test', name: '@home' }, { email: 'minus@exp.test', name: '-1+2' }]));
    await h.call({ method: 'PATCH', url: '/v1/bulk/contacts/plain@exp.test', headers: json, payload: { status: 'bounced' }, auth: bob.secret });
    const res = await h.call({ method: 'GET', url: '/v1/bulk/contacts?format=csv&q=exp.test', auth: bob.secret });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/csv/);
    const records: Record<string, string>[] = parse(res.body, { columns: true });
    assert.deepEqual(Object.keys(records[0]!), ['id', 'email', 'name', 'status', 'metadata', 'key_id', 'created_at', 'updated_at']);
    assert.deepEqual(
      records.map((r) => [r.email, r.name, r.status, JSON.stringify(JSON.parse(r.metadata!)), r.key_id]),
      [
        ['formula@exp.test', '\'=HYPERLINK("http://evil")', 'active', '{"plan":"pro"}', bob.id],
        ['minus@exp.test', '\'-1+2', 'active', '{}', bob.id],
        ['plain@exp.test', '\'@home', 'bounced', '{}', bob.id],
      ],
    );
    const bounced: Record<string, string>[] = parse((await h.call({ method: 'GET', url: '/v1/bulk/contacts?format=csv&status=bounced', auth: bob.secret })).body, { columns: true });
    assert.deepEqual(bounced.map((r) => r.email), ['plain@exp.test']);
    const all: Record<string, string>[] = parse((await h.call({ method: 'GET', url: '/v1/bulk/contacts?format=csv', auth: bob.secret })).body, { columns: true });
    assert.equal(all.length, await count(bob));
    assert.ok(all.every((r) => r.key_id === bob.id));
    assert.equal((await h.call({ method: 'GET', url: `/v1/bulk/contacts?format=csv&key_id=${alice.id}`, auth: bob.secret })).statusCode, 403);
  });

  it('exports more contacts than one page, each exactly once', async () => {
    const carol = await h.newKey('carol');
    const rows = Array.from({ length: 2_345 }, (_, i) => `e${i},N${i}`).map((r) => r.replace(/^e(\d+)/, 'e$1@many.test'));
    await importAs(carol, `email,name\n${rows.join('\n')}\n`, 'text/csv');
    const records: Record<string, string>[] = parse((await h.call({ method: 'GET', url: '/v1/bulk/contacts?format=csv', auth: carol.secret })).body, { columns: true });
    assert.equal(records.length, 2_345);
    assert.equal(new Set(records.map((r) => r.email)).size, 2_345);
    assert.deepEqual(records.map((r) => Number(r.id)), [...records.map((r) => Number(r.id))].sort((a, b) => a - b));
  });
});
