import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { SEED_PAYLOAD, SEND_ZONE, clone } from '../send/test-fixtures.ts';

describeEachEngine('GET /v1/messages', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };
  let aliceRequest: string;
  let bobRequest: string;
  let startedAt: string;

  const send = async (auth: string, to: string[], channel = 'trans') => {
    const payload = { ...clone(SEED_PAYLOAD), personalizations: [{ to: to.map((email) => ({ email })) }] };
    const res = await h.call({ method: 'POST', url: '/v1/mail/send', payload, headers: { 'x-md-channel': channel }, auth });
    assert.equal(res.statusCode, 202, res.body);
    return res.headers['x-message-id'] as string;
  };
  const list = (auth: string, query = '') => h.call({ method: 'GET', url: `/v1/messages${query}`, auth });

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    alice = await h.newKey('alice', ['tu-dominio.com']);
    bob = await h.newKey('bob', ['tu-dominio.com']);
    startedAt = new Date(Date.now() - 1000).toISOString();
    aliceRequest = await send(alice.secret, ['ana@example.com', 'Beto@example.com']);
    await send(alice.secret, ['carla@example.com'], 'bulk');
    await send(alice.secret, ['jöran@bücher.example']);
    bobRequest = await send(bob.secret, ['ana@example.com']);
    // What the delivery pipeline would record for one message.
    const [ana] = await h.database.db.selectFrom('messages').select('id').where('request_id', '=', aliceRequest).where('to_email', '=', 'ana@example.com').execute();
    await h.database.db.updateTable('messages').set({ status: 'sent', attempts: 1, last_response: '250 2.0.0 Ok: queued as ABC', sent_at: new Date() }).where('id', '=', ana!.id).execute();
    // A stored event before the send; the sent event itself comes from sent_at and last_response.
    await h.database.db.insertInto('message_events').values({ message_id: ana!.id, type: 'deferred', at: new Date(Date.now() - 500), data: JSON.stringify({ response: '451 try later' }) }).execute();
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  it('lists a key\'s own messages, newest first, with status, last response and timeline', async () => {
    const res = await list(alice.secret);
    assert.equal(res.statusCode, 200);
    const page = res.json();
    assert.equal(page.total, 4);
    assert.equal(page.limit, 100);
    assert.equal(page.offset, 0);
    assert.ok(page.data.every((m: any) => m.key_id === alice.id));
    const ana = page.data.find((m: any) => m.to === 'ana@example.com');
    assert.equal(ana.status, 'sent');
    assert.equal(ana.attempts, 1);
    assert.equal(ana.last_response, '250 2.0.0 Ok: queued as ABC');
    assert.equal(ana.from, 'no-reply@tu-dominio.com');
    assert.equal(ana.subject, SEED_PAYLOAD.subject);
    assert.equal(ana.request_id, aliceRequest);
    assert.match(ana.sent_at, /Z$/);
    assert.deepEqual(ana.events.map((e: any) => e.type), ['queued', 'deferred', 'sent']);
    assert.deepEqual(ana.events[1].data, { response: '451 try later' });
    assert.deepEqual(ana.events[2], { type: 'sent', at: ana.sent_at, data: { response: '250 2.0.0 Ok: queued as ABC' } });
    const created = page.data.map((m: any) => m.created_at);
    assert.deepEqual(created, [...created].sort().reverse());
  });

  it('filters by status, recipient, channel, since and request, and pages', async () => {
    const ids = async (query: string) => (await list(alice.secret, query)).json().data.map((m: any) => m.to).sort();
    assert.deepEqual(await ids('?status=sent'), ['ana@example.com']);
    assert.deepEqual(await ids('?status=queued'), ['Beto@example.com', 'carla@example.com', 'jöran@xn--bcher-kva.example']);
    assert.deepEqual(await ids(`?to=${encodeURIComponent('Jöran@Bücher.example')}`), ['jöran@xn--bcher-kva.example']);
    assert.deepEqual(await ids('?to=BETO@EXAMPLE.COM'), ['Beto@example.com']);
    assert.deepEqual(await ids('?channel=bulk'), ['carla@example.com']);
    assert.deepEqual(await ids(`?request_id=${aliceRequest}`), ['Beto@example.com', 'ana@example.com']);
    assert.deepEqual(await ids(`?since=${encodeURIComponent(startedAt)}&channel=trans`), ['Beto@example.com', 'ana@example.com', 'jöran@xn--bcher-kva.example']);
    assert.deepEqual(await ids(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), []);
    const paged = (await list(alice.secret, '?limit=3&offset=2')).json();
    assert.equal(paged.data.length, 2);
    assert.equal(paged.total, 4);
    assert.equal((await list(alice.secret, '?status=lost')).statusCode, 400);
    assert.equal((await list(alice.secret, '?since=yesterday')).statusCode, 400);
  });

  it('keeps keys apart: another key\'s message is a 404; key_id is for admins', async () => {
    const bobs = (await list(bob.secret)).json();
    assert.equal(bobs.total, 1);
    assert.equal(bobs.data[0].request_id, bobRequest);
    const aliceMessage = (await list(alice.secret)).json().data[0];
    const other = await h.call({ method: 'GET', url: `/v1/messages/${aliceMessage.id}`, auth: bob.secret });
    assert.equal(other.statusCode, 404);
    assert.equal(other.json().errors[0].code, 'not_found');
    const own = await h.call({ method: 'GET', url: `/v1/messages/${aliceMessage.id}`, auth: alice.secret });
    assert.equal(own.statusCode, 200);
    assert.equal(own.json().id, aliceMessage.id);
    assert.deepEqual(own.json().events.map((e: any) => e.type), aliceMessage.events.map((e: any) => e.type));
    assert.equal((await h.call({ method: 'GET', url: '/v1/messages/msg_nope', auth: alice.secret })).statusCode, 404);
    assert.equal((await list(bob.secret, `?key_id=${alice.id}`)).statusCode, 403);
    const admin = (await h.call({ method: 'GET', url: `/v1/messages?key_id=${bob.id}` })).json();
    assert.equal(admin.total, 1);
    assert.equal((await h.call({ method: 'GET', url: '/v1/messages' })).json().total, 5);
  });
});
