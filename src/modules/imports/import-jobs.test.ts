import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { createLogger } from '../../composition.ts';
import { createContactImportJob, IMPORT_LEASE_MS } from '../../workers/contact-import.ts';
import * as repo from './repo.ts';
import { createImportJobsService } from './service.ts';

type Key = { id: string; secret: string };

describeEachEngine('contact import jobs', (engine) => {
  let h: Harness;
  let alice: Key;
  let bob: Key;
  // After every real time the API stamps (its jobs are due then), so this clock's worker finds them due.
  const t0 = new Date(Date.now() + 86_400_000);
  let clock = t0;
  const now = () => clock;

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(() => h.close());

  const worker = () => createContactImportJob({ db: h.database.db, engine: h.database.engine, pool: h.database.pool, logger: createLogger('silent'), now });
  const importAs = (key: Key, payload: string, type = 'application/json', query = '?async=true') =>
    h.call({ method: 'POST', url: `/v1/bulk/contacts/import${query}`, headers: { 'content-type': type }, payload, auth: key.secret });
  const job = (key: Key | null, id: string) => h.call({ method: 'GET', url: `/v1/bulk/imports/${id}`, ...(key ? { auth: key.secret } : {}) });
  const count = async (key: Key) => (await h.call({ method: 'GET', url: '/v1/bulk/contacts?limit=1', auth: key.secret })).json().total as number;
  const jobRows = async () => (await h.database.db.selectFrom('contact_imports').select('id').execute()).length;

  it('answers 202 with a queued job, runs it in a worker and ends with the synchronous 207 result', async () => {
    const rows = [
      { email: 'ana@job.test', name: 'Ana', metadata: { plan: 'pro' } },
      { email: 'not an email' },
      { email: 'ANA@job.test' },
      { name: 'no email' },
      { email: 'pedro@job.test' },
      { email: 'maria@job.test' },
    ];
    for (const key of [alice, bob]) await h.call({ method: 'POST', url: '/v1/bulk/contacts', headers: { 'content-type': 'application/json' }, payload: { email: 'maria@job.test' }, auth: key.secret });
    const sync = await importAs(bob, JSON.stringify(rows), 'application/json', '');
    assert.equal(sync.statusCode, 207);

    const accepted = await importAs(alice, JSON.stringify(rows));
    assert.equal(accepted.statusCode, 202, accepted.body);
    const queued = accepted.json();
    assert.match(queued.id, /^imp_[0-9a-z]{20}$/);
    assert.equal(queued.status, 'queued');
    assert.equal(queued.rows_total, rows.length);
    assert.equal(queued.rows_read, 0);
    assert.equal(queued.key_id, alice.id);
    assert.equal(queued.result, null);
    assert.equal(await count(alice), 1, 'nothing is imported before a worker runs the job');
    assert.deepEqual((await job(alice, queued.id)).json(), queued);

    assert.equal((await job(bob, queued.id)).statusCode, 404, "another key's job is not found");
    assert.equal((await job(null, queued.id)).statusCode, 200, 'an admin reads any job');

    assert.equal(await worker().runOnce(), 1);
    const done = (await job(alice, queued.id)).json();
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result, sync.json(), 'the same shape and values as the synchronous answer');
    assert.deepEqual(
      { rows_read: done.rows_read, created: done.created, updated: done.updated, failed: done.failed, attempts: done.attempts },
      { rows_read: rows.length, created: sync.json().created, updated: sync.json().updated, failed: sync.json().failed, attempts: 1 },
    );
    assert.ok(done.started_at && done.finished_at);
    assert.equal(await count(alice), 3);
    assert.equal(await worker().runOnce(), 0, 'nothing is due any more');
  });

  it('imports CSV and NDJSON as jobs; async=false is the synchronous import', async () => {
    const csv = await importAs(alice, 'email,name,tier\ncsv1@job.test,C1,gold\ncsv2@job.test,,\n', 'text/csv');
    const ndjson = await importAs(alice, '{"email":"nd1@job.test"}\nnot json\n', 'application/x-ndjson; charset=utf-8');
    assert.equal(csv.statusCode, 202);
    assert.equal(ndjson.statusCode, 202);
    assert.equal(await worker().runOnce(), 1);
    assert.equal(await worker().runOnce(), 1);
    assert.deepEqual((await job(alice, csv.json().id)).json().result, { created: 2, updated: 0, failed: 0, errors: [] });
    const nd = (await job(alice, ndjson.json().id)).json().result;
    assert.deepEqual([nd.created, nd.failed, nd.errors[0].code, nd.errors[0].index], [1, 1, 'invalid_json', 1]);
    const plain = await importAs(alice, '[{"email":"sync@job.test"}]', 'application/json', '?async=false');
    assert.equal(plain.statusCode, 207);
  });

  it('refuses bad input with a 4xx and keeps nothing', async () => {
    const jobsBefore = await jobRows();
    const contactsBefore = await count(alice);
    const cases: Array<[string, string, string, number, string]> = [
      ['{"email":"x@job.test"}', 'application/json', '?async=true', 400, 'not_an_array'],
      ['[{"email":"x@job.test"},', 'application/json', '?async=true', 400, 'invalid_json'],
      ['name\nAna\n', 'text/csv', '?async=true', 400, 'missing_email_column'],
      ['', 'text/csv', '?async=true', 400, 'invalid_csv'],
      ['[]', 'application/json', '?async=maybe', 400, 'invalid_async'],
    ];
    for (const [payload, type, query, status, code] of cases) {
      const res = await importAs(alice, payload, type, query);
      assert.equal(res.statusCode, status, `${payload}: ${res.body}`);
      assert.equal(res.json().errors[0].code, code, payload);
    }
    assert.equal((await importAs(alice, '<x/>', 'application/xml')).statusCode, 415);
    assert.equal((await h.call({ method: 'POST', url: '/v1/bulk/contacts/import?async=true', headers: { 'content-type': 'text/csv' }, payload: 'email\na@job.test\n', auth: null })).statusCode, 401);
    assert.equal(await jobRows(), jobsBefore, 'no job row is left behind');
    assert.equal(await count(alice), contactsBefore);
    assert.equal((await job(alice, 'imp_nosuchjob')).statusCode, 404);
  });

  it('a job whose worker died is taken over after its lease, from its stored body, without duplicating contacts', async () => {
    const db = h.database.db;
    // Small pieces, so the body is stored (and read back) in many of them.
    const imports = createImportJobsService({ db, now, chunkBytes: 4096 });
    const lines = ['email,name', ...Array.from({ length: 2000 }, (_, i) => `crash${i}@job.test,Crash ${i}`)];
    const submitted = await imports.submit({ keyId: alice.id, admin: false } as never, 'text/csv', Readable.from(lines.map((line) => Buffer.from(`${line}\n`))));
    const pieces = await db.selectFrom('contact_import_chunks').select('seq').where('import_id', '=', submitted.id).execute();
    assert.ok(pieces.length > 5, `stored in ${pieces.length} pieces`);

    // Two workers reach for it at once: one gets it. That one reported its first rows and died.
    const claims = await Promise.all([repo.claimDue(db, 'dead-worker', t0, IMPORT_LEASE_MS), repo.claimDue(db, 'other-worker', t0, IMPORT_LEASE_MS)]);
    assert.equal(claims.filter(Boolean).length, 1, 'claimed once');
    const dead = claims.find(Boolean)!;
    assert.equal(dead.id, submitted.id);
    if (dead.lease_owner !== 'dead-worker') await db.updateTable('contact_imports').set({ lease_owner: 'dead-worker' }).where('id', '=', dead.id).execute();
    assert.equal(await repo.renewLease(db, submitted.id, 'dead-worker', t0, IMPORT_LEASE_MS, { read: 500, failed: 0 }), true);
    const running = (await job(alice, submitted.id)).json();
    assert.deepEqual([running.status, running.rows_read, running.rows_total, running.created], ['running', 500, 2000, 0]);

    clock = new Date(t0.getTime() + IMPORT_LEASE_MS / 2);
    assert.equal(await worker().runOnce(), 0, 'a live lease is left alone');
    // It had even merged before dying: the rerun is an upsert.
    await h.context.services.contacts.importRows({ keyId: alice.id, admin: false } as never, (async function* () {
      for (let i = 0; i < 2000; i++) yield { index: i, value: { email: `crash${i}@job.test`, name: `Crash ${i}` } };
    })());
    clock = new Date(t0.getTime() + IMPORT_LEASE_MS + 1000);
    assert.equal(await worker().runOnce(), 1);
    const done = (await job(alice, submitted.id)).json();
    assert.deepEqual([done.status, done.attempts, done.rows_read, done.created, done.updated, done.failed], ['completed', 2, 2000, 0, 2000, 0]);
    const crashed = await db.selectFrom('contacts').select((eb) => eb.fn.countAll<string>().as('n')).where('key_id', '=', alice.id).where('email', 'like', 'crash%').executeTakeFirstOrThrow();
    assert.equal(Number(crashed.n), 2000, 'no contact twice');
    assert.equal((await db.selectFrom('contact_import_chunks').select('seq').where('import_id', '=', submitted.id).execute()).length, 0, 'the stored body is dropped once done');
    assert.equal(await repo.finish(db, submitted.id, 'dead-worker', { status: 'failed', error: { code: 'x', message: 'late' } }, clock), false, 'the dead worker can no longer end it');
    clock = t0;
  });
});
