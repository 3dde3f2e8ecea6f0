import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { SEED_PAYLOAD, SEND_ZONE, clone, rowCounts } from '../send/test-fixtures.ts';
import { canonicalJson, requestHash } from './canonical.ts';

it('canonical JSON ignores key order, not array order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), '{"a":{"c":null,"d":[2,1]},"b":1}');
  assert.equal(requestHash('op', { a: 1, b: 2 }), requestHash('op', { b: 2, a: 1 }));
  assert.notEqual(requestHash('op', [1, 2]), requestHash('op', [2, 1]));
  assert.notEqual(requestHash('op', { a: 1 }), requestHash('other', { a: 1 }));
});

describeEachEngine('Idempotency-Key on POST /v1/mail/send', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    alice = await h.newKey('alice', ['tu-dominio.com']);
    bob = await h.newKey('bob', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  const send = (key: string, payload: unknown, auth = alice.secret, headers: Record<string, string> = {}) =>
    h.call({ method: 'POST', url: '/v1/mail/send', payload: payload as object, headers: { 'idempotency-key': key, ...headers }, auth });
  const queuedFor = async (requestId: string) =>
    (await h.database.db.selectFrom('messages').select('id').where('request_id', '=', requestId).execute()).length;

  it('a retry with the same key and payload answers the stored response and queues nothing', async () => {
    const first = await send('k-replay', SEED_PAYLOAD);
    assert.equal(first.statusCode, 202);
    const before = await rowCounts(h);
    const reordered = { content: SEED_PAYLOAD.content, subject: SEED_PAYLOAD.subject, from: SEED_PAYLOAD.from, personalizations: SEED_PAYLOAD.personalizations };
    const again = await send('k-replay', reordered);
    assert.equal(again.statusCode, 202);
    assert.equal(again.body, first.body);
    assert.equal(again.headers['x-message-id'], first.headers['x-message-id']);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(await rowCounts(h), before);
  });

  it('the same key with another payload (or another channel) is a 422', async () => {
    await send('k-mismatch', SEED_PAYLOAD);
    const before = await rowCounts(h);
    const other = clone(SEED_PAYLOAD);
    other.subject = 'Otro asunto';
    const res = await send('k-mismatch', other);
    assert.equal(res.statusCode, 422);
    assert.equal(res.json().errors[0].code, 'idempotency_key_reused');
    assert.equal(res.json().errors[0].field, 'Idempotency-Key');
    const bulk = await send('k-mismatch', SEED_PAYLOAD, alice.secret, { 'x-md-channel': 'bulk' });
    assert.equal(bulk.statusCode, 422);
    assert.deepEqual(await rowCounts(h), before);
  });

  it('the same key while the first request is still running is a 409 with Retry-After', async () => {
    const begun = await h.context.services.idempotency.begin(alice.id, 'k-running', 'mail.send', { channel: 'trans', body: SEED_PAYLOAD });
    assert.equal(begun.kind, 'claimed');
    const before = await rowCounts(h);
    const res = await send('k-running', SEED_PAYLOAD);
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().errors[0].code, 'idempotency_in_flight');
    assert.equal(res.headers['retry-after'], '1');
    assert.deepEqual(await rowCounts(h), before);
  });

  it('a refused request frees its key for the corrected retry', async () => {
    const bad = clone(SEED_PAYLOAD);
    bad.personalizations[0]!.to[0]!.email = 'x@mailinator.com';
    assert.equal((await send('k-fix', bad)).statusCode, 400);
    const fixed = await send('k-fix', SEED_PAYLOAD);
    assert.equal(fixed.statusCode, 202);
    assert.equal(fixed.headers['idempotent-replayed'], undefined);
  });

  it('keys are per API key', async () => {
    const a = await send('k-shared', SEED_PAYLOAD);
    const b = await send('k-shared', SEED_PAYLOAD, bob.secret);
    assert.equal(a.statusCode, 202);
    assert.equal(b.statusCode, 202);
    assert.notEqual(a.headers['x-message-id'], b.headers['x-message-id']);
    assert.equal(b.json().app, bob.id);
  });

  it('concurrent identical requests queue exactly one message set', async () => {
    const before = await rowCounts(h);
    const payload = clone(SEED_PAYLOAD);
    payload.personalizations[0]!.to.push({ email: 'otro@example.com', name: 'Otro' });
    const answers = await Promise.all(Array.from({ length: 12 }, () => send('k-race', payload)));
    const statuses = answers.map((r) => r.statusCode);
    assert.ok(statuses.every((s) => s === 202 || s === 409), statuses.join(','));
    const ids = new Set(answers.filter((r) => r.statusCode === 202).map((r) => r.headers['x-message-id']));
    assert.equal(ids.size, 1, 'every 202 names the same request');
    assert.equal(await queuedFor([...ids][0] as string), 2);
    const after = await rowCounts(h);
    assert.equal(after.messages - before.messages, 2);
    assert.equal(after.contents - before.contents, 1);
    const replay = await send('k-race', payload);
    assert.equal(replay.statusCode, 202);
    assert.equal(replay.headers['x-message-id'], [...ids][0]);
  });

  it('an expired key (older than 24 h) is claimed afresh, and the expiry job forgets old keys', async () => {
    const first = await send('k-old', SEED_PAYLOAD);
    await h.database.db.updateTable('idempotency_keys').set({ created_at: new Date(Date.now() - 25 * 3600_000) }).where('idem_key', '=', 'k-old').execute();
    const second = await send('k-old', SEED_PAYLOAD);
    assert.equal(second.statusCode, 202);
    assert.notEqual(second.headers['x-message-id'], first.headers['x-message-id']);
    await h.database.db.updateTable('idempotency_keys').set({ created_at: new Date(Date.now() - 25 * 3600_000) }).where('idem_key', '=', 'k-old').execute();
    await h.workers.drain();
    const left = await h.database.db.selectFrom('idempotency_keys').select('idem_key').where('idem_key', '=', 'k-old').execute();
    assert.equal(left.length, 0);
  });

  it('a running claim whose request died (lease over) is taken over', async () => {
    const begun = await h.context.services.idempotency.begin(alice.id, 'k-dead', 'mail.send', { channel: 'trans', body: SEED_PAYLOAD });
    assert.equal(begun.kind, 'claimed');
    await h.database.db.updateTable('idempotency_keys').set({ locked_until: new Date(Date.now() - 1000) }).where('idem_key', '=', 'k-dead').execute();
    const res = await send('k-dead', SEED_PAYLOAD);
    assert.equal(res.statusCode, 202);
    if (begun.kind === 'claimed') {
      await assert.rejects(begun.claim.complete({ status: 202, headers: {}, body: {} }), (e: any) => e.code === 'idempotency_in_flight');
    }
  });
});
