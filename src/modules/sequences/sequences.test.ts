import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

describeEachEngine('sequences API: sequences and steps', (engine) => {
  let h: Harness;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  const call = (method: Method, url: string, payload?: unknown, auth: string | null = alice.secret, headers: Record<string, string> = {}) =>
    h.call({ method, url, auth, headers: { ...(payload === undefined ? {} : json), ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const create = async (name = 'Drip') => {
    const res = await call('POST', '/v1/bulk/sequences', { name });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  };
  const step = (id: string, body: Record<string, unknown>) => call('POST', `/v1/bulk/sequences/${id}/steps`, body);
  const textStep = (position: number, extra: Record<string, unknown> = {}) => ({
    position,
    offset_seconds: 60,
    subject: `Step ${position}`,
    body_text: 'Hi {{name}}',
    from_email: 'hola@miempresa.com',
    ...extra,
  });

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice', ['miempresa.com']);
    bob = await h.newKey('bob', ['bob.test']);
    const template = (id: string, subject: string) => ({ id, key_id: alice.id, name: id, subject, html: '<p>Hola {{name}}</p>', body_text: null });
    await h.database.db.insertInto('templates').values([template('bienvenida-fc9674', 'Bienvenida'), template('followup-fc9675', 'Seguimiento')]).execute();
  });
  after(async () => {
    await h.close();
  });

  it('runs the seed example as written: create, two template steps, activate, subscribe (201, then 200)', async () => {
    const created = await call('POST', '/v1/bulk/sequences', { name: 'Onboarding - Bienvenida' });
    assert.equal(created.statusCode, 201, created.body);
    const seq = created.json();
    assert.match(seq.id, /^onboarding-bienvenida-[0-9a-f]{6}$/);
    assert.deepEqual([seq.status, seq.name, seq.steps, seq.subscriber_counts.total], ['draft', 'Onboarding - Bienvenida', [], 0]);

    const first = await step(seq.id, { position: 1, offset_seconds: 0, subject: 'Bienvenido a {{name}}, aquí empieza todo', from_email: 'hola@miempresa.com', template_id: 'bienvenida-fc9674' });
    assert.equal(first.statusCode, 201, first.body);
    assert.match(first.json().id, /^step_[a-z0-9]+$/);
    assert.deepEqual([first.json().position, first.json().offset_seconds, first.json().template_id, first.json().subject], [1, 0, 'bienvenida-fc9674', 'Bienvenido a {{name}}, aquí empieza todo']);
    const second = await step(seq.id, { position: 2, offset_seconds: 259200, subject: '¿Cómo va todo?', from_email: 'hola@miempresa.com', template_id: 'followup-fc9675' });
    assert.equal(second.statusCode, 201, second.body);

    const active = await call('PATCH', `/v1/bulk/sequences/${seq.id}`, { status: 'active' });
    assert.equal(active.statusCode, 200, active.body);
    assert.equal(active.json().status, 'active');
    assert.deepEqual(active.json().steps.map((s: { position: number }) => s.position), [1, 2]);

    const before = Date.now();
    const sub = await call('POST', `/v1/bulk/sequences/${seq.id}/subscribers`, { email: 'ana@empresa.com' });
    assert.equal(sub.statusCode, 201, sub.body);
    const s = sub.json();
    assert.match(s.id, /^sub_[a-z0-9]+$/);
    assert.deepEqual([s.status, s.email, s.current_position, s.cancel_reason], ['active', 'ana@empresa.com', 0, null]);
    // Step 1 has offset 0: due at started_at (the subscription time).
    assert.equal(s.next_due_at, s.started_at);
    assert.ok(Date.parse(s.started_at) >= before - 1000 && Date.parse(s.started_at) <= Date.now() + 1000);
    const again = await call('POST', `/v1/bulk/sequences/${seq.id}/subscribers`, { email: 'ana@empresa.com' });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().id, s.id);

    const listed = (await call('GET', '/v1/bulk/sequences')).json();
    const row = listed.data.find((x: { id: string }) => x.id === seq.id);
    assert.deepEqual(row.subscriber_counts, { total: 1, active: 1, paused: 0, completed: 0, cancelled: 0 });
    assert.equal(row.steps, undefined);
    assert.deepEqual([typeof listed.total, listed.limit, listed.offset], ['number', 100, 0]);
  });

  it('lists with ?status=, ?limit= and ?offset=; key_id is admin only', async () => {
    const a = await create('Page A');
    const b = await create('Page B');
    await call('PATCH', `/v1/bulk/sequences/${b}`, { status: 'archived' });
    const archived = (await call('GET', '/v1/bulk/sequences?status=archived')).json();
    assert.ok(archived.data.every((x: { status: string }) => x.status === 'archived'));
    assert.ok(archived.data.some((x: { id: string }) => x.id === b));
    const page = (await call('GET', '/v1/bulk/sequences?limit=1&offset=0')).json();
    assert.deepEqual([page.data.length, page.limit], [1, 1]);
    assert.ok(page.total >= 2);
    assert.equal((await call('GET', `/v1/bulk/sequences?key_id=${alice.id}`)).statusCode, 403);
    const admin = await h.call({ method: 'GET', url: `/v1/bulk/sequences?key_id=${alice.id}` });
    assert.ok(admin.json().data.some((x: { id: string }) => x.id === a));
    assert.equal((await call('GET', '/v1/bulk/sequences?limit=1001')).statusCode, 400);
  });

  it('PATCH renames and moves between draft, active and archived; activation needs a from_email on every step', async () => {
    const id = await create();
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { name: 'Renamed' })).json().name, 'Renamed');
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, {})).statusCode, 400);
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status: 'sent' })).statusCode, 400);
    assert.equal((await step(id, textStep(1, { from_email: undefined }))).statusCode, 201);
    const refused = await call('PATCH', `/v1/bulk/sequences/${id}`, { status: 'active' });
    assert.deepEqual([refused.statusCode, refused.json().errors[0].code], [409, 'step_without_from']);
    const stepId = (await call('GET', `/v1/bulk/sequences/${id}`)).json().steps[0].id;
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}/steps/${stepId}`, { from_email: 'hola@miempresa.com' })).statusCode, 200);
    for (const status of ['active', 'archived', 'draft', 'active'] as const) {
      const res = await call('PATCH', `/v1/bulk/sequences/${id}`, { status });
      assert.deepEqual([res.statusCode, res.json().status], [200, status]);
    }
    // On an active sequence a step cannot lose its sender, nor be added without one.
    const cleared = await call('PATCH', `/v1/bulk/sequences/${id}/steps/${stepId}`, { from_email: null });
    assert.deepEqual([cleared.statusCode, cleared.json().errors[0].code, cleared.json().errors[0].field], [400, 'from_required', 'from_email']);
    assert.equal((await step(id, textStep(2, { from_email: undefined }))).statusCode, 400);
  });

  it('a step needs subject with html/body_text or a template_id (400 naming the fields), valid Liquid and a template of this key', async () => {
    const id = await create();
    const none = await step(id, { position: 1, offset_seconds: 0, from_email: 'hola@miempresa.com' });
    assert.equal(none.statusCode, 400);
    assert.deepEqual(none.json().errors.map((e: { field: string }) => e.field), ['subject', 'html', 'body_text', 'template_id']);
    assert.ok(none.json().errors.every((e: { code: string }) => e.code === 'missing_content'));
    const noBody = await step(id, { position: 1, offset_seconds: 0, subject: 'Hi' });
    assert.deepEqual(noBody.json().errors.map((e: { field: string }) => e.field), ['html', 'body_text', 'template_id']);
    const noSubject = await step(id, { position: 1, offset_seconds: 0, html: '<p>x</p>' });
    assert.deepEqual(noSubject.json().errors.map((e: { field: string }) => e.field), ['subject', 'template_id']);
    const syntax = await step(id, textStep(1, { body_text: 'Hi {% if %}' }));
    assert.deepEqual([syntax.statusCode, syntax.json().errors[0].code, syntax.json().errors[0].field], [400, 'template_syntax', 'body_text']);
    const missing = await step(id, { position: 1, offset_seconds: 0, template_id: 'nope-000000' });
    assert.deepEqual([missing.statusCode, missing.json().errors[0].code, missing.json().errors[0].field], [400, 'template_not_found', 'template_id']);
    const bobs = await call('POST', '/v1/bulk/sequences', { name: 'Bob' }, bob.secret);
    const foreign = await call('POST', `/v1/bulk/sequences/${bobs.json().id}/steps`, { position: 1, offset_seconds: 0, template_id: 'bienvenida-fc9674' }, bob.secret);
    assert.deepEqual([foreign.statusCode, foreign.json().errors[0].code], [400, 'template_not_found']);
    assert.equal((await step(id, { position: 0, offset_seconds: 0, template_id: 'bienvenida-fc9674' })).statusCode, 400);
    assert.equal((await step(id, { position: 1, offset_seconds: -1, template_id: 'bienvenida-fc9674' })).statusCode, 400);
    assert.equal((await step(id, { offset_seconds: 0, template_id: 'bienvenida-fc9674' })).statusCode, 400);
    assert.equal((await step(id, { position: 1, template_id: 'bienvenida-fc9674' })).statusCode, 400);
    assert.equal((await step(id, { position: 1, offset_seconds: 0, template_id: 'bienvenida-fc9674', colour: 'red' })).statusCode, 400);
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}`)).json().steps.length, 0);
  });

  it('from_email off the verified domains is a 403 from_not_allowed on POST and PATCH; a duplicate position is a 409', async () => {
    const id = await create();
    const post = await step(id, textStep(1, { from_email: 'x@bob.test' }));
    assert.deepEqual([post.statusCode, post.json().errors[0].code, post.json().errors[0].field], [403, 'from_not_allowed', 'from_email']);
    const ok = await step(id, textStep(1));
    assert.equal(ok.statusCode, 201);
    const patch = await call('PATCH', `/v1/bulk/sequences/${id}/steps/${ok.json().id}`, { from_email: 'x@bob.test' });
    assert.deepEqual([patch.statusCode, patch.json().errors[0].code], [403, 'from_not_allowed']);
    const dup = await step(id, textStep(1, { subject: 'Other' }));
    assert.deepEqual([dup.statusCode, dup.json().errors[0].code, dup.json().errors[0].field], [409, 'position_taken', 'position']);
    const steps = (await call('GET', `/v1/bulk/sequences/${id}`)).json().steps;
    assert.deepEqual(steps.map((s: { subject: string; from_email: string }) => [s.subject, s.from_email]), [['Step 1', 'hola@miempresa.com']]);
  });

  it('refuses CR or LF in subject, from_email, from_name and reply_to (400 invalid_header_value) on POST and PATCH', async () => {
    const id = await create();
    const injections: Array<[string, string]> = [
      ['subject', 'Hi\r\nBcc: victim@rcpt.test'],
      ['from_email', 'hola@miempresa.com\nBcc: victim@rcpt.test'],
      ['from_name', 'Hola\rBcc: victim@rcpt.test'],
      ['reply_to', 'help@miempresa.com\r\nBcc: victim@rcpt.test'],
    ];
    for (const [field, value] of injections) {
      const res = await step(id, textStep(1, { [field]: value }));
      assert.deepEqual([res.statusCode, res.json().errors[0].code, res.json().errors[0].field], [400, 'invalid_header_value', field]);
    }
    const stepId = (await step(id, textStep(1))).json().id;
    for (const [field, value] of injections) {
      const res = await call('PATCH', `/v1/bulk/sequences/${id}/steps/${stepId}`, { [field]: value });
      assert.deepEqual([res.statusCode, res.json().errors[0].code, res.json().errors[0].field], [400, 'invalid_header_value', field]);
    }
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}`)).json().steps[0].subject, 'Step 1');
  });

  it('steps come back ordered by position; PATCH edits (null clears, position is fixed); DELETE is a 204', async () => {
    const id = await create();
    for (const position of [3, 1, 2]) assert.equal((await step(id, textStep(position))).statusCode, 201);
    const steps = (await call('GET', `/v1/bulk/sequences/${id}`)).json().steps;
    assert.deepEqual(steps.map((s: { position: number }) => s.position), [1, 2, 3]);
    const edited = await call('PATCH', `/v1/bulk/sequences/${id}/steps/${steps[1].id}`, { template_id: 'followup-fc9675', subject: null, body_text: null, offset_seconds: 7200, from_name: 'Hola' });
    assert.equal(edited.statusCode, 200, edited.body);
    assert.deepEqual(
      [edited.json().template_id, edited.json().subject, edited.json().body_text, edited.json().offset_seconds, edited.json().from_name, edited.json().position],
      ['followup-fc9675', null, null, 7200, 'Hola', 2],
    );
    // Taking the template away again leaves no content: 400, nothing stored.
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}/steps/${steps[1].id}`, { template_id: null })).statusCode, 400);
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}/steps/${steps[1].id}`, { position: 5 })).statusCode, 400);
    const del = await call('DELETE', `/v1/bulk/sequences/${id}/steps/${steps[0].id}`);
    assert.deepEqual([del.statusCode, del.body], [204, '']);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}/steps/${steps[0].id}`)).statusCode, 404);
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}/steps/step_nope`, { from_name: 'x' })).statusCode, 404);
    assert.deepEqual((await call('GET', `/v1/bulk/sequences/${id}`)).json().steps.map((s: { position: number }) => s.position), [2, 3]);
  });

  it('DELETE is a 409 while there are active or paused subscribers, a 204 once they are cancelled', async () => {
    const id = await create();
    await call('POST', `/v1/bulk/sequences/${id}/subscribers`, { email: 'del@rcpt.test' });
    const busy = await call('DELETE', `/v1/bulk/sequences/${id}`);
    assert.deepEqual([busy.statusCode, busy.json().errors[0].code], [409, 'sequence_has_subscribers']);
    await call('POST', `/v1/bulk/sequences/${id}/subscribers/del@rcpt.test/pause`);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}`)).statusCode, 409);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}/subscribers/del@rcpt.test`)).statusCode, 200);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}`)).statusCode, 204);
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}`)).statusCode, 404);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}`)).statusCode, 404);
  });

  it("another key's sequence is a 404 on every route", async () => {
    const id = await create('Private');
    const stepId = (await step(id, textStep(1))).json().id;
    await call('POST', `/v1/bulk/sequences/${id}/subscribers`, { email: 'mine@rcpt.test' });
    const routes: Array<[Method, string, unknown]> = [
      ['GET', `/v1/bulk/sequences/${id}`, undefined],
      ['PATCH', `/v1/bulk/sequences/${id}`, { name: 'x' }],
      ['DELETE', `/v1/bulk/sequences/${id}`, undefined],
      ['POST', `/v1/bulk/sequences/${id}/steps`, { position: 9, offset_seconds: 0, subject: 'x', html: 'x' }],
      ['PATCH', `/v1/bulk/sequences/${id}/steps/${stepId}`, { from_name: 'x' }],
      ['DELETE', `/v1/bulk/sequences/${id}/steps/${stepId}`, undefined],
      ['GET', `/v1/bulk/sequences/${id}/subscribers`, undefined],
      ['POST', `/v1/bulk/sequences/${id}/subscribers`, { email: 'mine@rcpt.test' }],
      ['GET', `/v1/bulk/sequences/${id}/subscribers/mine@rcpt.test`, undefined],
      ['DELETE', `/v1/bulk/sequences/${id}/subscribers/mine@rcpt.test`, undefined],
      ['POST', `/v1/bulk/sequences/${id}/subscribers/mine@rcpt.test/pause`, undefined],
      ['POST', `/v1/bulk/sequences/${id}/subscribers/mine@rcpt.test/resume`, undefined],
    ];
    for (const [method, url, payload] of routes) {
      const res = await call(method, url, payload, bob.secret);
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    }
    assert.ok(!(await call('GET', '/v1/bulk/sequences', undefined, bob.secret)).json().data.some((x: { id: string }) => x.id === id));
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}`)).json().steps.length, 1);
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}/subscribers/mine@rcpt.test`)).json().status, 'active');
    assert.equal((await call('GET', '/v1/bulk/sequences', undefined, null)).statusCode, 401);
  });

  it('Idempotency-Key on create and on add step replays the first answer; another payload is a 422', async () => {
    const headers = { 'idempotency-key': 'seq-create-1' };
    const first = await call('POST', '/v1/bulk/sequences', { name: 'Once' }, alice.secret, headers);
    const again = await call('POST', '/v1/bulk/sequences', { name: 'Once' }, alice.secret, headers);
    assert.deepEqual([first.statusCode, again.statusCode, again.json().id, again.headers['idempotent-replayed']], [201, 201, first.json().id, 'true']);
    assert.equal((await call('POST', '/v1/bulk/sequences', { name: 'Twice' }, alice.secret, headers)).statusCode, 422);
    const stepHeaders = { 'idempotency-key': 'seq-step-1' };
    const s1 = await call('POST', `/v1/bulk/sequences/${first.json().id}/steps`, textStep(1), alice.secret, stepHeaders);
    const s2 = await call('POST', `/v1/bulk/sequences/${first.json().id}/steps`, textStep(1), alice.secret, stepHeaders);
    assert.deepEqual([s1.statusCode, s2.statusCode, s2.json().id], [201, 201, s1.json().id]);
    assert.equal((await call('POST', `/v1/bulk/sequences/${first.json().id}/steps`, textStep(1))).statusCode, 409);
  });

  it('the OpenAPI document has the routes, the decisions and the sequence.* webhooks', async () => {
    const doc = (await h.call({ method: 'GET', url: '/openapi.json' })).json();
    for (const path of ['/v1/bulk/sequences', '/v1/bulk/sequences/{id}', '/v1/bulk/sequences/{id}/steps/{step_id}', '/v1/bulk/sequences/{id}/subscribers/{email}/resume']) {
      assert.ok(doc.paths[path], path);
    }
    assert.match(doc.paths['/v1/bulk/sequences/{id}/subscribers'].post.description, /becomes a contact/);
    assert.match(doc.paths['/v1/bulk/sequences/{id}'].patch.description, /fell due meanwhile/);
    for (const type of ['sequence.subscribed', 'sequence.step.sent', 'sequence.step.failed', 'sequence.completed', 'sequence.cancelled']) assert.ok(doc.webhooks[type], type);
  });
});
