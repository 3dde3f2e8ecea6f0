import assert from 'node:assert/strict';
import { after, before, beforeEach, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { cancelSubscriptionsOf } from './repo.ts';
import { createSequencesService } from './service.ts';

const json = { 'content-type': 'application/json' };
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const HOUR = 3_600_000;

describeEachEngine('sequences API: subscribers, timing and events', (engine) => {
  let h: Harness;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  const db = () => h.database.db;
  const call = (method: Method, url: string, payload?: unknown, auth = alice.secret, headers: Record<string, string> = {}) =>
    h.call({ method, url, auth, headers: { ...(payload === undefined ? {} : json), ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const textStep = (position: number, offset_seconds: number) => ({ position, offset_seconds, subject: `S${position}`, body_text: 'Hi {{name}}', from_email: 'hola@miempresa.com' });
  /** A sequence with steps at the given offsets (positions 1, 2, …). */
  const sequence = async (offsets: number[] = [3600], status = 'active') => {
    const id = (await call('POST', '/v1/bulk/sequences', { name: 'Drip' })).json().id as string;
    for (const [i, offset] of offsets.entries()) assert.equal((await call('POST', `/v1/bulk/sequences/${id}/steps`, textStep(i + 1, offset))).statusCode, 201);
    if (status !== 'draft') assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status })).statusCode, 200);
    return id;
  };
  const subscribe = (id: string, body: Record<string, unknown>, auth = alice.secret) => call('POST', `/v1/bulk/sequences/${id}/subscribers`, body, auth);
  const events = async (type?: string) => {
    let query = db().selectFrom('events').select(['type', 'data', 'key_id']).orderBy('seq');
    if (type) query = query.where('type', '=', type);
    return (await query.execute()).map((e) => ({ ...e, data: (typeof e.data === 'string' ? JSON.parse(e.data) : e.data) as Record<string, any> }));
  };
  const sentMessage = (id: string, subscriberId: string, position: number, sentAt: Date | null) =>
    db()
      .insertInto('messages')
      .values({ id, key_id: alice.id, content_id: 'mc_x', channel: 'bulk', lane: 1, status: sentAt ? 'sent' : 'queued', to_email: 'x@rcpt.test', sequence_subscriber_id: subscriberId, sequence_step_position: position, sent_at: sentAt, last_response: sentAt ? '250 ok' : null })
      .execute();

  before(async () => {
    h = await startHarness(engine);
    alice = await h.newKey('alice', ['miempresa.com']);
    bob = await h.newKey('bob', ['bob.test']);
    // The outbox keeps events only for keys with an endpoint; created directly, as the events tests do.
    await db()
      .insertInto('webhooks')
      .values({ id: 'wh_sequences_test', key_id: alice.id, url: 'https://hooks.example.com/x', description: null, events: ['sequence.*'], enabled: true, secret_sealed: await h.context.webhookSecrets.seal('whsec_x') })
      .execute();
  });
  beforeEach(async () => {
    await db().deleteFrom('events').execute();
  });
  after(async () => {
    await h.close();
  });

  it('an unknown address becomes an active contact; the subscription is lower-cased, with started_at and variables, and writes sequence.subscribed', async () => {
    const id = await sequence([3600, 60]);
    const startedAt = '2031-05-01T10:00:00.000Z';
    const res = await subscribe(id, { email: 'Nuevo@Rcpt.Test', started_at: startedAt, variables: { plan: 'pro' } });
    assert.equal(res.statusCode, 201, res.body);
    const s = res.json();
    assert.deepEqual([s.email, s.status, s.started_at, s.variables, s.current_position], ['nuevo@rcpt.test', 'active', startedAt, { plan: 'pro' }, 0]);
    assert.equal(s.next_due_at, '2031-05-01T11:00:00.000Z');
    const contact = await db().selectFrom('contacts').select(['id', 'email', 'status']).where('key_id', '=', alice.id).where('email', '=', 'Nuevo@Rcpt.Test').executeTakeFirstOrThrow();
    assert.deepEqual([contact.status, Number(contact.id)], ['active', s.contact_id]);
    const [event] = await events();
    assert.equal(event?.type, 'sequence.subscribed');
    assert.deepEqual(event!.data, { sequence_id: id, subscriber_id: s.id, key_id: alice.id, email: 'nuevo@rcpt.test', contact_id: s.contact_id });
    // The same address in another case is the same subscription (200, nothing new written).
    const again = await subscribe(id, { email: 'NUEVO@rcpt.test', variables: { plan: 'free' } });
    assert.deepEqual([again.statusCode, again.json().id, again.json().variables], [200, s.id, { plan: 'pro' }]);
    assert.equal((await events()).length, 1);
  });

  it('a bounced, complained or unsubscribed contact, or a suppressed address, gets a subscription created already cancelled (201) and sequence.cancelled', async () => {
    const id = await sequence();
    await db()
      .insertInto('contacts')
      .values(['bounced', 'complained', 'unsubscribed'].map((status) => ({ key_id: alice.id, email: `${status}@rcpt.test`, name: null, status: status as 'bounced' })))
      .execute();
    await db().insertInto('suppressions').values({ key_id: alice.id, email: 'listed@rcpt.test', reason: 'manual', source_type: 'api', source_id: null, detail: null }).execute();
    for (const [email, reason] of [
      ['bounced@rcpt.test', 'bounced'],
      ['complained@rcpt.test', 'complained'],
      ['unsubscribed@rcpt.test', 'unsubscribed'],
      ['LISTED@rcpt.test', 'suppressed'],
    ] as const) {
      const res = await subscribe(id, { email });
      assert.equal(res.statusCode, 201, res.body);
      const s = res.json();
      assert.deepEqual([s.status, s.cancel_reason, s.next_due_at], ['cancelled', reason, null], email);
      assert.ok(s.cancelled_at);
      // Terminal: subscribing again is a 409.
      const again = await subscribe(id, { email });
      assert.deepEqual([again.statusCode, again.json().errors[0].code], [409, 'subscription_cancelled']);
    }
    const written = await events();
    assert.deepEqual(written.map((e) => [e.type, e.data.reason]), [
      ['sequence.cancelled', 'bounced'],
      ['sequence.cancelled', 'complained'],
      ['sequence.cancelled', 'unsubscribed'],
      ['sequence.cancelled', 'suppressed'],
    ]);
    const counts = (await call('GET', `/v1/bulk/sequences/${id}`)).json().subscriber_counts;
    assert.deepEqual([counts.cancelled, counts.active], [4, 0]);
  });

  it('409 for a completed subscription; 409 on an archived sequence; a draft one takes subscribers; 400 for a bad address, started_at or variables', async () => {
    const id = await sequence();
    const s = (await subscribe(id, { email: 'done@rcpt.test' })).json();
    await db().updateTable('sequence_subscribers').set({ status: 'completed', completed_at: new Date(), next_due_at: null }).where('id', '=', s.id).execute();
    const completed = await subscribe(id, { email: 'done@rcpt.test' });
    assert.deepEqual([completed.statusCode, completed.json().errors[0].code], [409, 'subscription_completed']);
    for (const action of ['pause', 'resume']) assert.equal((await call('POST', `/v1/bulk/sequences/${id}/subscribers/done@rcpt.test/${action}`)).statusCode, 409);
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}/subscribers/done@rcpt.test`)).statusCode, 409);

    const draft = await sequence([60], 'draft');
    assert.equal((await subscribe(draft, { email: 'early@rcpt.test' })).statusCode, 201);
    await call('PATCH', `/v1/bulk/sequences/${draft}`, { status: 'archived' });
    const archived = await subscribe(draft, { email: 'late@rcpt.test' });
    assert.deepEqual([archived.statusCode, archived.json().errors[0].code], [409, 'sequence_archived']);

    for (const body of [{ email: 'not-an-address' }, { email: 'a@rcpt.test', started_at: 'tomorrow' }, { email: 'a@rcpt.test', variables: [1] }, { email: 'a@rcpt.test', variables: { big: 'x'.repeat(20_000) } }, {}]) {
      assert.equal((await subscribe(id, body)).statusCode, 400, JSON.stringify(body).slice(0, 80));
    }
    assert.equal((await subscribe('nope-000000', { email: 'a@rcpt.test' })).statusCode, 404);
  });

  it('GET …/subscribers/{email} shows state, current position, next send and the steps sent with their message ids', async () => {
    const id = await sequence([0, 86400, 60]);
    const s = (await subscribe(id, { email: 'track@rcpt.test' })).json();
    const sentAt = new Date('2031-01-01T08:00:00Z');
    await sentMessage('msg_seq_track_1', s.id, 1, sentAt);
    await db().updateTable('sequence_subscribers').set({ current_position: 1, next_due_at: new Date(sentAt.getTime() + 86_400_000) }).where('id', '=', s.id).execute();
    const res = await call('GET', `/v1/bulk/sequences/${id}/subscribers/${encodeURIComponent('Track@rcpt.test')}`);
    assert.equal(res.statusCode, 200, res.body);
    const got = res.json();
    assert.deepEqual([got.id, got.status, got.current_position, got.next_due_at], [s.id, 'active', 1, '2031-01-02T08:00:00.000Z']);
    assert.deepEqual(got.steps_sent, [{ position: 1, message_id: 'msg_seq_track_1', status: 'sent', sent_at: '2031-01-01T08:00:00.000Z', response: '250 ok' }]);
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}/subscribers/nobody@rcpt.test`)).statusCode, 404);
  });

  it('GET …/subscribers filters by ?status= and is paginated', async () => {
    const id = await sequence();
    for (const n of [1, 2, 3]) await subscribe(id, { email: `list${n}@rcpt.test` });
    await call('POST', `/v1/bulk/sequences/${id}/subscribers/list2@rcpt.test/pause`);
    const all = (await call('GET', `/v1/bulk/sequences/${id}/subscribers?limit=2`)).json();
    assert.deepEqual([all.total, all.data.length, all.limit, all.offset], [3, 2, 2, 0]);
    assert.deepEqual(all.data.map((x: { email: string }) => x.email), ['list1@rcpt.test', 'list2@rcpt.test']);
    const rest = (await call('GET', `/v1/bulk/sequences/${id}/subscribers?limit=2&offset=2`)).json();
    assert.deepEqual(rest.data.map((x: { email: string }) => x.email), ['list3@rcpt.test']);
    const paused = (await call('GET', `/v1/bulk/sequences/${id}/subscribers?status=paused`)).json();
    assert.deepEqual([paused.total, paused.data[0].email], [1, 'list2@rcpt.test']);
    assert.equal((await call('GET', `/v1/bulk/sequences/${id}/subscribers?status=gone`)).statusCode, 400);
  });

  it('DELETE …/subscribers/{email} cancels with reason manual (200, sequence.cancelled once)', async () => {
    const id = await sequence();
    const s = (await subscribe(id, { email: 'bye@rcpt.test' })).json();
    await db().deleteFrom('events').execute();
    const res = await call('DELETE', `/v1/bulk/sequences/${id}/subscribers/bye@rcpt.test`);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().status, res.json().cancel_reason, res.json().next_due_at], ['cancelled', 'manual', null]);
    const again = await call('DELETE', `/v1/bulk/sequences/${id}/subscribers/bye@rcpt.test`);
    assert.deepEqual([again.statusCode, again.json().cancelled_at], [200, res.json().cancelled_at]);
    const written = await events();
    assert.deepEqual(written.map((e) => e.type), ['sequence.cancelled']);
    assert.deepEqual(written[0]!.data, { sequence_id: id, subscriber_id: s.id, key_id: alice.id, email: 'bye@rcpt.test', contact_id: s.contact_id, reason: 'manual' });
    assert.equal((await subscribe(id, { email: 'bye@rcpt.test' })).statusCode, 409);
  });

  it('pause holds the due time; resume keeps the wait that remained (injected clock)', async () => {
    let now = new Date('2031-03-01T12:00:00Z');
    const service = createSequencesService({ db: db(), isFromAllowed: async () => true, now: () => now });
    const principal = { keyId: alice.id, name: 'alice', admin: false };
    const id = await sequence([3600]);
    const { subscriber } = await service.subscribe(principal, id, { email: 'clock@rcpt.test' });
    assert.equal(subscriber.next_due_at, '2031-03-01T13:00:00.000Z');
    now = new Date('2031-03-01T12:10:00Z');
    const paused = await service.pauseSubscriber(principal, id, 'clock@rcpt.test');
    assert.deepEqual([paused.status, paused.paused_at, paused.next_due_at], ['paused', '2031-03-01T12:10:00.000Z', '2031-03-01T13:00:00.000Z']);
    now = new Date('2031-03-02T00:00:00Z');
    assert.equal((await service.pauseSubscriber(principal, id, 'clock@rcpt.test')).paused_at, '2031-03-01T12:10:00.000Z');
    now = new Date('2031-03-04T12:00:00Z');
    const resumed = await service.resumeSubscriber(principal, id, 'clock@rcpt.test');
    // 50 minutes were left at pause time: due 50 minutes after the resume.
    assert.deepEqual([resumed.status, resumed.paused_at, resumed.next_due_at], ['active', null, '2031-03-04T12:50:00.000Z']);
    assert.equal((await service.resumeSubscriber(principal, id, 'clock@rcpt.test')).next_due_at, '2031-03-04T12:50:00.000Z');

    // Overdue when paused: due at once on resume.
    await db().updateTable('sequence_subscribers').set({ next_due_at: new Date('2031-03-04T12:00:00Z') }).where('id', '=', subscriber.id).execute();
    now = new Date('2031-03-04T13:00:00Z');
    await service.pauseSubscriber(principal, id, 'clock@rcpt.test');
    now = new Date('2031-03-05T09:00:00Z');
    assert.equal((await service.resumeSubscriber(principal, id, 'clock@rcpt.test')).next_due_at, '2031-03-05T09:00:00.000Z');
  });

  it('pause and resume over HTTP answer 200 with the subscription; resume re-bases by the time spent paused', async () => {
    const id = await sequence([7200]);
    const s = (await subscribe(id, { email: 'http-pause@rcpt.test' })).json();
    const paused = await call('POST', `/v1/bulk/sequences/${id}/subscribers/http-pause@rcpt.test/pause`);
    assert.deepEqual([paused.statusCode, paused.json().status, paused.json().next_due_at], [200, 'paused', s.next_due_at]);
    // Pretend the pause happened two hours ago, when step 1 still had an hour to wait.
    const pausedAt = new Date(Date.now() - 2 * HOUR);
    await db().updateTable('sequence_subscribers').set({ paused_at: pausedAt, next_due_at: new Date(pausedAt.getTime() + HOUR) }).where('id', '=', s.id).execute();
    const before = Date.now();
    const resumed = await call('POST', `/v1/bulk/sequences/${id}/subscribers/http-pause@rcpt.test/resume`);
    assert.deepEqual([resumed.statusCode, resumed.json().status], [200, 'active']);
    const due = Date.parse(resumed.json().next_due_at);
    assert.ok(due >= before + HOUR - 1000 && due <= Date.now() + HOUR + 1000, resumed.json().next_due_at);
  });

  it('timing is kept while the sequence is draft or archived; adding, re-timing and deleting steps re-times only waits with a known base', async () => {
    const id = await sequence([]);
    const waiting = (await subscribe(id, { email: 'wait@rcpt.test', started_at: '2031-06-01T00:00:00.000Z' })).json();
    assert.equal(waiting.next_due_at, null);
    const get = async (email: string) => (await call('GET', `/v1/bulk/sequences/${id}/subscribers/${email}`)).json();
    const step1 = (await call('POST', `/v1/bulk/sequences/${id}/steps`, textStep(1, 600))).json();
    assert.equal((await get('wait@rcpt.test')).next_due_at, '2031-06-01T00:10:00.000Z');
    await call('PATCH', `/v1/bulk/sequences/${id}/steps/${step1.id}`, { offset_seconds: 1200 });
    assert.equal((await get('wait@rcpt.test')).next_due_at, '2031-06-01T00:20:00.000Z');

    // One subscriber past step 1 (sent at a known time), one whose step 1 is still in flight.
    const sent = (await subscribe(id, { email: 'sent@rcpt.test' })).json();
    const flying = (await subscribe(id, { email: 'flying@rcpt.test' })).json();
    await sentMessage('msg_seq_sent_1', sent.id, 1, new Date('2031-06-02T00:00:00Z'));
    await sentMessage('msg_seq_flying_1', flying.id, 1, null);
    await db().updateTable('sequence_subscribers').set({ current_position: 1, next_due_at: null }).where('id', 'in', [sent.id, flying.id]).execute();
    const step3 = (await call('POST', `/v1/bulk/sequences/${id}/steps`, textStep(3, 3600))).json();
    assert.equal((await get('sent@rcpt.test')).next_due_at, '2031-06-02T01:00:00.000Z');
    assert.equal((await get('flying@rcpt.test')).next_due_at, null);
    // A step added before a subscriber's position is not theirs; one between becomes their next.
    await call('POST', `/v1/bulk/sequences/${id}/steps`, textStep(2, 60));
    assert.equal((await get('sent@rcpt.test')).next_due_at, '2031-06-02T00:01:00.000Z');
    assert.equal((await get('wait@rcpt.test')).next_due_at, '2031-06-01T00:20:00.000Z');
    const step2 = (await call('GET', `/v1/bulk/sequences/${id}`)).json().steps[1];
    assert.equal((await call('DELETE', `/v1/bulk/sequences/${id}/steps/${step2.id}`)).statusCode, 204);
    assert.equal((await get('sent@rcpt.test')).next_due_at, '2031-06-02T01:00:00.000Z');
    await call('DELETE', `/v1/bulk/sequences/${id}/steps/${step3.id}`);
    assert.equal((await get('sent@rcpt.test')).next_due_at, null);

    // Draft, archived, active again: every subscriber keeps its state and due time.
    const snapshot = async () => (await call('GET', `/v1/bulk/sequences/${id}/subscribers`)).json().data.map((x: any) => [x.email, x.status, x.next_due_at]);
    const before = await snapshot();
    for (const status of ['draft', 'archived', 'active']) await call('PATCH', `/v1/bulk/sequences/${id}`, { status });
    assert.deepEqual(await snapshot(), before);
  });

  it('the scheduler\'s due rows (sequence_due) follow each subscriber: subscribe, pause, resume, re-timing, cancel', async () => {
    const id = await sequence([]);
    const dueRow = async (email: string) => {
      const row = await db()
        .selectFrom('sequence_due')
        .innerJoin('sequence_subscribers', 'sequence_subscribers.id', 'sequence_due.subscriber_id')
        .select(['sequence_due.due_at', 'sequence_due.sequence_id'])
        .where('sequence_subscribers.email', '=', email)
        .executeTakeFirst();
      return row ? [new Date(row.due_at).toISOString(), row.sequence_id] : null;
    };
    await subscribe(id, { email: 'due@rcpt.test', started_at: '2031-07-01T00:00:00.000Z' });
    assert.equal(await dueRow('due@rcpt.test'), null, 'no step yet: nothing due');
    const step = (await call('POST', `/v1/bulk/sequences/${id}/steps`, textStep(1, 600))).json();
    assert.deepEqual(await dueRow('due@rcpt.test'), ['2031-07-01T00:10:00.000Z', id]);
    await call('PATCH', `/v1/bulk/sequences/${id}/steps/${step.id}`, { offset_seconds: 1200 });
    assert.deepEqual(await dueRow('due@rcpt.test'), ['2031-07-01T00:20:00.000Z', id]);
    await call('POST', `/v1/bulk/sequences/${id}/subscribers/due@rcpt.test/pause`);
    assert.equal(await dueRow('due@rcpt.test'), null, 'paused: not due');
    const resumed = (await call('POST', `/v1/bulk/sequences/${id}/subscribers/due@rcpt.test/resume`)).json();
    assert.deepEqual(await dueRow('due@rcpt.test'), [resumed.next_due_at, id]);
    await call('DELETE', `/v1/bulk/sequences/${id}/subscribers/due@rcpt.test`);
    assert.equal(await dueRow('due@rcpt.test'), null, 'cancelled: not due');
    await call('DELETE', `/v1/bulk/sequences/${id}/steps/${step.id}`);
    await subscribe(id, { email: 'none@rcpt.test' });
    assert.equal(await dueRow('none@rcpt.test'), null);
  });

  it('cancelSubscriptionsOf cancels every live subscription of the address with the reason and writes sequence.cancelled for each', async () => {
    const one = await sequence();
    const two = await sequence();
    const three = await sequence();
    const a = (await subscribe(one, { email: 'leave@rcpt.test' })).json();
    const b = (await subscribe(two, { email: 'leave@rcpt.test' })).json();
    await call('POST', `/v1/bulk/sequences/${two}/subscribers/leave@rcpt.test/pause`);
    const c = (await subscribe(three, { email: 'leave@rcpt.test' })).json();
    await db().updateTable('sequence_subscribers').set({ status: 'completed', completed_at: new Date(), next_due_at: null }).where('id', '=', c.id).execute();
    const bobs = (await call('POST', '/v1/bulk/sequences', { name: 'Bob' }, bob.secret)).json().id;
    await subscribe(bobs, { email: 'leave@rcpt.test' }, bob.secret);
    await db().deleteFrom('events').execute();

    const cancelled = await cancelSubscriptionsOf(db(), alice.id, 'Leave@RCPT.test', 'unsubscribed', new Date('2031-07-01T00:00:00Z'));
    assert.deepEqual(cancelled.map((r) => r.id).sort(), [a.id, b.id].sort());
    for (const r of cancelled) assert.deepEqual([r.status, r.cancel_reason, r.next_due_at, new Date(r.cancelled_at!).toISOString()], ['cancelled', 'unsubscribed', null, '2031-07-01T00:00:00.000Z']);
    const written = await events();
    assert.deepEqual(written.map((e) => [e.type, e.data.subscriber_id, e.data.reason]).sort(), [a.id, b.id].sort().map((sid) => ['sequence.cancelled', sid, 'unsubscribed']));
    assert.equal((await call('GET', `/v1/bulk/sequences/${three}/subscribers/leave@rcpt.test`)).json().status, 'completed');
    assert.equal((await call('GET', `/v1/bulk/sequences/${bobs}/subscribers/leave@rcpt.test`, undefined, bob.secret)).json().status, 'active');
    assert.deepEqual(await cancelSubscriptionsOf(db(), alice.id, 'leave@rcpt.test', 'bounced', new Date()), []);
  });

  it('subscribes racing for one new address make one contact and one subscription: one 201, the others 200', async () => {
    const id = await sequence();
    const answers = await Promise.all(Array.from({ length: 6 }, () => subscribe(id, { email: 'race@rcpt.test' })));
    assert.deepEqual(answers.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 200, 201]);
    assert.equal(new Set(answers.map((r) => r.json().id)).size, 1);
    const rows = await db().selectFrom('sequence_subscribers').select('id').where('sequence_id', '=', id).execute();
    const contacts = await db().selectFrom('contacts').select('id').where('key_id', '=', alice.id).where('email', '=', 'race@rcpt.test').execute();
    assert.deepEqual([rows.length, contacts.length, (await events('sequence.subscribed')).length], [1, 1, 1]);
  });

  it('Idempotency-Key on subscribe replays the first answer', async () => {
    const id = await sequence();
    const headers = { 'idempotency-key': 'sub-once-1' };
    const first = await call('POST', `/v1/bulk/sequences/${id}/subscribers`, { email: 'idem@rcpt.test' }, alice.secret, headers);
    const replay = await call('POST', `/v1/bulk/sequences/${id}/subscribers`, { email: 'idem@rcpt.test' }, alice.secret, headers);
    assert.deepEqual([first.statusCode, replay.statusCode, replay.json().id, replay.headers['idempotent-replayed']], [201, 201, first.json().id, 'true']);
    assert.equal((await call('POST', `/v1/bulk/sequences/${id}/subscribers`, { email: 'idem@rcpt.test' })).statusCode, 200);
  });
});
