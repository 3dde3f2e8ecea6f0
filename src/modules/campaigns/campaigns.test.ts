import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };

describeEachEngine('campaigns API', (engine) => {
  let h: Harness;
  let dataDir: string;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };
  let listId: string;
  let templateId: string;

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, auth = alice.secret) =>
    h.call({ method, url, auth, ...(payload === undefined ? {} : { headers: json, payload: payload as object }) });
  const draft = (extra: Record<string, unknown> = {}) =>
    call('POST', '/v1/bulk/campaigns', { name: 'Spring', list_id: listId, template_id: templateId, from_email: 'news@alice.test', ...extra });

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'md-campaigns-'));
    h = await startHarness(engine, { MAILERDASH_DATA_DIR: dataDir });
    alice = await h.newKey('alice', ['alice.test']);
    bob = await h.newKey('bob', ['bob.test']);
    listId = 'spring-list-a1b2c3';
    templateId = 'spring-tpl-a1b2c3';
    await h.database.db.insertInto('lists').values({ id: listId, key_id: alice.id, name: 'Spring', description: null }).execute();
    await h.database.db.insertInto('templates').values({ id: templateId, key_id: alice.id, name: 'Spring', subject: 'Hi', html: '<p>Hi</p>', body_text: null }).execute();
    const contact = await h.database.db.insertInto('contacts').values({ key_id: alice.id, email: 'one@rcpt.test', name: 'One' }).returning('id').executeTakeFirstOrThrow();
    await h.database.db.insertInto('list_members').values({ list_id: listId, contact_id: contact.id }).execute();
  });
  after(async () => {
    for (const job of h.context.jobs) await (job as { close?: () => Promise<void> }).close?.();
    await h.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates a draft with a camp_ id; lists, gets and edits it', async () => {
    const res = await draft({ from_name: 'Alice', reply_to: 'help@alice.test', subject: 'Override' });
    assert.equal(res.statusCode, 201, res.body);
    const c = res.json();
    assert.match(c.id, /^camp_[a-z0-9]+$/);
    assert.deepEqual([c.status, c.subject, c.from_name, c.reply_to, c.tracking, c.send_at], ['draft', 'Override', 'Alice', 'help@alice.test', true, null]);
    const edited = await call('PATCH', `/v1/bulk/campaigns/${c.id}`, { name: 'Spring sale', subject: null, send_at: '2030-01-01T10:00:00Z' });
    assert.equal(edited.statusCode, 200, edited.body);
    assert.deepEqual([edited.json().name, edited.json().subject, edited.json().send_at], ['Spring sale', null, '2030-01-01T10:00:00.000Z']);
    const list = await call('GET', '/v1/bulk/campaigns?status=draft');
    assert.ok(list.json().data.some((x: { id: string }) => x.id === c.id));
    assert.equal((await call('GET', `/v1/bulk/campaigns/${c.id}`)).json().name, 'Spring sale');
  });

  it('refuses a from outside the verified domains (403) and a missing list or template (400 naming the field)', async () => {
    const from = await draft({ from_email: 'x@bob.test' });
    assert.equal(from.statusCode, 403);
    assert.equal(from.json().errors[0].field, 'from_email');
    const list = await draft({ list_id: 'nope-000000' });
    assert.deepEqual([list.statusCode, list.json().errors[0].field, list.json().errors[0].code], [400, 'list_id', 'list_not_found']);
    const template = await draft({ template_id: 'nope-000000' });
    assert.deepEqual([template.statusCode, template.json().errors[0].field], [400, 'template_id']);
    const unknown = await draft({ colour: 'red' });
    assert.equal(unknown.statusCode, 400);
    // Another key's list is as missing as no list at all.
    const bobs = await call('POST', '/v1/bulk/campaigns', { name: 'x', list_id: listId, template_id: templateId, from_email: 'a@bob.test' }, bob.secret);
    assert.deepEqual([bobs.statusCode, bobs.json().errors[0].field], [400, 'list_id']);
  });

  it('refuses CR or LF in from_email, from_name, reply_to and subject (400 invalid_header_value) on create and PATCH, storing nothing', async () => {
    const count = async () => Number((await h.database.db.selectFrom('campaigns').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    const injections: Array<[string, string]> = [
      ['from_email', 'news@alice.test\r\nBcc: victim@rcpt.test'],
      ['from_name', 'Alice\r\nBcc: victim@rcpt.test'],
      ['reply_to', 'help@alice.test\nBcc: victim@rcpt.test'],
      ['subject', 'Hi\rBcc: victim@rcpt.test'],
    ];
    for (const [field, value] of injections) {
      const res = await draft({ [field]: value });
      assert.equal(res.statusCode, 400, `${field}: ${res.body}`);
      assert.deepEqual([res.json().errors[0].code, res.json().errors[0].field], ['invalid_header_value', field]);
    }
    assert.equal(await count(), before);
    const id = (await draft({ from_name: 'Alice', subject: 'Fine' })).json().id;
    for (const [field, value] of injections) {
      const res = await call('PATCH', `/v1/bulk/campaigns/${id}`, { [field]: value });
      assert.equal(res.statusCode, 400, `${field}: ${res.body}`);
      assert.deepEqual([res.json().errors[0].code, res.json().errors[0].field], ['invalid_header_value', field]);
    }
    const all = await call('PATCH', `/v1/bulk/campaigns/${id}`, Object.fromEntries(injections));
    assert.deepEqual(all.json().errors.map((e: { field: string }) => e.field), injections.map(([field]) => field));
    const stored = (await call('GET', `/v1/bulk/campaigns/${id}`)).json();
    assert.deepEqual([stored.from_email, stored.from_name, stored.reply_to, stored.subject], ['news@alice.test', 'Alice', null, 'Fine']);
  });

  it("another key's campaign is a 404 on every route", async () => {
    const id = (await draft()).json().id;
    for (const [method, url] of [
      ['GET', `/v1/bulk/campaigns/${id}`],
      ['PATCH', `/v1/bulk/campaigns/${id}`],
      ['DELETE', `/v1/bulk/campaigns/${id}`],
      ['POST', `/v1/bulk/campaigns/${id}/send`],
      ['POST', `/v1/bulk/campaigns/${id}/cancel`],
      ['GET', `/v1/bulk/campaigns/${id}/stats`],
    ] as const) {
      const res = await call(method, url, method === 'PATCH' ? { name: 'mine' } : undefined, bob.secret);
      assert.equal(res.statusCode, 404, `${method} ${url}`);
    }
    assert.equal((await call('GET', `/v1/bulk/campaigns?key_id=${alice.id}`, undefined, bob.secret)).statusCode, 403);
  });

  it('PATCH {"status":"send"} queues it; it is sent once dispatched and delivered, then read-only (409)', async () => {
    const id = (await draft()).json().id;
    const queued = await call('PATCH', `/v1/bulk/campaigns/${id}`, { status: 'send' });
    assert.equal(queued.json().status, 'send');
    assert.equal((await call('PATCH', `/v1/bulk/campaigns/${id}`, { name: 'late edit' })).statusCode, 409);
    await h.workers.drain();
    const sent = (await call('GET', `/v1/bulk/campaigns/${id}`)).json();
    assert.equal(sent.status, 'sent');
    assert.ok(sent.sent_at);
    for (const [method, url, payload] of [
      ['PATCH', `/v1/bulk/campaigns/${id}`, { name: 'again' }],
      ['PATCH', `/v1/bulk/campaigns/${id}`, { status: 'send' }],
      ['DELETE', `/v1/bulk/campaigns/${id}`, undefined],
      ['POST', `/v1/bulk/campaigns/${id}/send`, undefined],
      ['POST', `/v1/bulk/campaigns/${id}/pause`, undefined],
      ['POST', `/v1/bulk/campaigns/${id}/cancel`, undefined],
    ] as const) {
      const res = await call(method, url, payload);
      assert.equal(res.statusCode, 409, `${method} ${url}`);
      assert.equal(res.json().errors[0].code, 'campaign_sent');
    }
    assert.deepEqual(
      (({ recipients, sent, skipped_suppressed, pending }) => ({ recipients, sent, skipped_suppressed, pending }))((await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json()),
      { recipients: 1, sent: 1, skipped_suppressed: 0, pending: 0 },
    );
  });

  it('a scheduled campaign waits for send_at; pause holds it, resume and cancel follow the documented rules', async () => {
    const id = (await draft({ send_at: new Date(Date.now() + 3_600_000).toISOString() })).json().id;
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/send`)).json().status, 'send');
    await h.workers.drain();
    assert.equal((await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json().recipients, 0);
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/resume`)).statusCode, 409);
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/pause`)).json().status, 'paused');
    assert.equal((await call('PATCH', `/v1/bulk/campaigns/${id}`, { send_at: null })).statusCode, 409);
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/resume`)).json().status, 'send');
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/cancel`)).json().status, 'cancelled');
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/resume`)).statusCode, 409);
    await h.workers.drain();
    assert.equal((await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json().recipients, 0);
  });

  it('only a draft can be deleted', async () => {
    const id = (await draft()).json().id;
    assert.equal((await call('DELETE', `/v1/bulk/campaigns/${id}`)).statusCode, 204);
    assert.equal((await call('GET', `/v1/bulk/campaigns/${id}`)).statusCode, 404);
  });

  it('Idempotency-Key on create and send replays the first answer', async () => {
    const payload = { name: 'Once', list_id: listId, template_id: templateId, from_email: 'news@alice.test' };
    const headers = { ...json, 'idempotency-key': 'create-once-1' };
    const first = await h.call({ method: 'POST', url: '/v1/bulk/campaigns', headers, payload, auth: alice.secret });
    const again = await h.call({ method: 'POST', url: '/v1/bulk/campaigns', headers, payload, auth: alice.secret });
    assert.equal(first.statusCode, 201);
    assert.deepEqual([again.statusCode, again.json().id], [201, first.json().id]);
    const other = await h.call({ method: 'POST', url: '/v1/bulk/campaigns', headers, payload: { ...payload, name: 'Twice' }, auth: alice.secret });
    assert.equal(other.statusCode, 422);
    const sendHeaders = { 'idempotency-key': 'send-once-1' };
    const sent = await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${first.json().id}/send`, headers: sendHeaders, auth: alice.secret });
    const replay = await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${first.json().id}/send`, headers: sendHeaders, auth: alice.secret });
    assert.deepEqual([sent.statusCode, replay.statusCode, replay.headers['idempotent-replayed']], [200, 200, 'true']);
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/campaigns/${first.json().id}/send`, auth: alice.secret })).statusCode, 409);
  });

  it('pausing holds messages already queued; resuming sends them; the campaign is sent only when they are final', async () => {
    await h.workers.drain();
    const id = (await draft()).json().id;
    await call('POST', `/v1/bulk/campaigns/${id}/send`);
    const dispatcher = h.context.jobs.find((j) => j.name === 'campaign-dispatcher')!;
    assert.ok((await dispatcher.runOnce()) > 0);
    assert.equal((await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json().pending, 1);
    assert.equal((await call('GET', `/v1/bulk/campaigns/${id}`)).json().status, 'send');
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/pause`)).json().status, 'paused');
    await h.workers.drain();
    const held = (await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json();
    assert.deepEqual([held.pending, held.sent, held.status], [1, 0, 'paused']);
    await call('POST', `/v1/bulk/campaigns/${id}/resume`);
    await h.workers.drain();
    const done = (await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json();
    assert.deepEqual([done.pending, done.sent, done.status], [0, 1, 'sent']);
  });

  it('cancelling drops what was not sent yet', async () => {
    await h.workers.drain();
    const id = (await draft()).json().id;
    await call('POST', `/v1/bulk/campaigns/${id}/send`);
    await h.context.jobs.find((j) => j.name === 'campaign-dispatcher')!.runOnce();
    assert.equal((await call('POST', `/v1/bulk/campaigns/${id}/cancel`)).json().status, 'cancelled');
    await h.workers.drain();
    const s = (await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json();
    assert.deepEqual([s.pending, s.sent, s.dropped, s.status], [0, 0, 1, 'cancelled']);
  });

  it('several dispatchers at once share one campaign: every member gets exactly one message', async () => {
    await h.workers.drain();
    const db = h.database.db;
    const ids = await db
      .insertInto('contacts')
      .values(Array.from({ length: 120 }, (_, i) => ({ key_id: alice.id, email: `many${i}@rcpt.test`, name: null })))
      .returning('id')
      .execute();
    await db.insertInto('lists').values({ id: 'many-000001', key_id: alice.id, name: 'Many', description: null }).execute();
    await db.insertInto('list_members').values(ids.map((c) => ({ list_id: 'many-000001', contact_id: c.id }))).execute();
    const id = (await draft({ list_id: 'many-000001' })).json().id;
    await call('POST', `/v1/bulk/campaigns/${id}/send`);
    const { createCampaignDispatcher } = await import('../../workers/campaign-dispatcher.ts');
    const workers = Array.from({ length: 3 }, () => createCampaignDispatcher({ db, logger: h.context.logger, chunkSize: 25 }));
    for (let round = 0; round < 50; round++) {
      await Promise.all(workers.map((w) => w.runOnce()));
      const row = await db.selectFrom('campaigns').select('dispatch_done').where('id', '=', id).executeTakeFirstOrThrow();
      if (row.dispatch_done) break;
    }
    const made = await db.selectFrom('messages').select(['contact_id']).where('campaign_id', '=', id).execute();
    assert.equal(made.length, 120);
    assert.equal(new Set(made.map((m) => m.contact_id)).size, 120);
    await h.workers.drain();
    assert.equal((await call('GET', `/v1/bulk/campaigns/${id}/stats`)).json().sent, 120);
  });
});
