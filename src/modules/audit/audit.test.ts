import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer, type ZoneRecord } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { recordAudit } from './repo.ts';

describeEachEngine('audit log', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer({ 'hooks.example.com': [{ type: 'A', address: '93.184.216.34' }] });
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  it("a key sees only its own entries, newest first; an admin sees every key's, or one key's with key_id", async () => {
    const alice = await h.newKey('alice');
    const bob = await h.newKey('bob');
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 0, 0, s));
    await recordAudit(h.database.db, { keyId: alice.id, action: 'batch.created', objectType: 'batch', objectId: 'batch_a1', summary: { accepted: 3 } }, at(1));
    await recordAudit(h.database.db, { keyId: bob.id, action: 'batch.created', objectType: 'batch', objectId: 'batch_b1', summary: {} }, at(2));
    await recordAudit(h.database.db, { keyId: alice.id, action: 'batch.cancelled', objectType: 'batch', objectId: 'batch_a1', summary: {} }, at(3));
    const list = async (auth: string | undefined, query = '') => (await h.call({ method: 'GET', url: `/v1/audit${query}`, ...(auth ? { auth } : {}) })).json().data as Array<{ key_id: string; action: string; summary: unknown }>;

    const own = (await list(alice.secret)).filter((e) => e.action.startsWith('batch.'));
    assert.deepEqual(own.map((e) => e.action), ['batch.cancelled', 'batch.created']);
    assert.ok(own.every((e) => e.key_id === alice.id));
    assert.deepEqual(own[1]!.summary, { accepted: 3 });
    assert.deepEqual((await list(bob.secret)).map((e) => [e.key_id, e.action]), [[bob.id, 'batch.created'], [bob.id, 'key.created']]);
    const all = await list(undefined);
    assert.ok(all.filter((e) => e.key_id === alice.id || e.key_id === bob.id).length === 5);
    assert.deepEqual((await list(undefined, `?key_id=${bob.id}`)).map((e) => e.key_id), [bob.id, bob.id]);
  });

  type Entry = { key_id: string; action: string; object_type: string; object_id: string; summary: Record<string, unknown> };
  const entries = async (auth: string | undefined, query = '') =>
    ((await h.call({ method: 'GET', url: `/v1/audit?limit=100${query}`, ...(auth ? { auth } : {}) })).json().data as Entry[]).reverse();
  const send = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, auth?: string, payload?: object) => {
    const res = await h.call({ method, url, ...(auth ? { auth } : {}), ...(payload ? { headers: { 'content-type': 'application/json' }, payload } : {}) });
    assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.body ? res.json() : null;
  };

  it('records keys, domains, webhook endpoints and campaign actions, each with who, what and a summary', async () => {
    const created = await send('POST', '/v1/keys', undefined, { name: 'carol', domains: ['carol.test'] });
    const carol = { id: created.id as string, secret: created.key as string };
    const admin = (await h.call({ method: 'GET', url: '/v1/keys?limit=1' })).json().data[0].id as string;

    const added = await send('POST', '/v1/domains', carol.secret, { domain: 'news.example' });
    for (const r of added.records as Array<{ type: 'TXT' | 'CNAME'; name: string; value: string }>) {
      ((dns.zone[r.name] ??= []) as ZoneRecord[]).push(r.type === 'TXT' ? { type: 'TXT', data: r.value } : { type: 'CNAME', domain: r.value });
    }
    assert.equal((await send('POST', '/v1/domains/news.example/verify', carol.secret)).verified, true);
    await send('POST', '/v1/domains/news.example/verify', carol.secret);
    await send('DELETE', '/v1/domains/news.example', carol.secret);

    const hook = await send('POST', '/v1/webhooks', carol.secret, { url: 'https://hooks.example.com/in', events: ['batch.*'] });
    await send('PATCH', `/v1/webhooks/${hook.id}`, carol.secret, { enabled: false });
    await send('POST', `/v1/webhooks/${hook.id}/rotate-secret`, carol.secret);
    await send('DELETE', `/v1/webhooks/${hook.id}`, carol.secret);

    await h.database.db.insertInto('lists').values({ id: 'audit-list-0001', key_id: carol.id, name: 'L', description: null }).execute();
    await h.database.db.insertInto('templates').values({ id: 'audit-tpl-00001', key_id: carol.id, name: 'T', subject: 'Hi', html: '<p>Hi</p>', body_text: null }).execute();
    const later = { send_at: '2099-01-01T00:00:00Z' };
    const campaign = await send('POST', '/v1/bulk/campaigns', carol.secret, { name: 'C', list_id: 'audit-list-0001', template_id: 'audit-tpl-00001', from_email: 'a@carol.test', ...later });
    for (const action of ['send', 'pause', 'cancel']) await send('POST', `/v1/bulk/campaigns/${campaign.id}/${action}`, carol.secret);
    const own = await entries(carol.secret);
    await send('DELETE', `/v1/keys/${carol.id}`);

    assert.deepEqual(
      own.map((e) => [e.action, e.object_id]),
      [
        ['domain.added', 'news.example'],
        ['domain.verified', 'news.example'],
        ['domain.removed', 'news.example'],
        ['webhook.created', hook.id],
        ['webhook.updated', hook.id],
        ['webhook.secret_rotated', hook.id],
        ['webhook.deleted', hook.id],
        ['campaign.send_started', campaign.id],
        ['campaign.paused', campaign.id],
        ['campaign.cancelled', campaign.id],
      ],
    );
    assert.ok(own.every((e) => e.key_id === carol.id));
    assert.deepEqual(own[4]!.summary.changed, ['enabled', 'disabled_reason', 'disabled_at']);
    assert.deepEqual([own[9]!.summary.previous_status, own[9]!.summary.status], ['paused', 'cancelled']);
    assert.ok(!JSON.stringify(own).includes('whsec'), 'no secret in the log');

    // The admin made and revoked the key: its entries are the admin's, and only the admin sees them.
    const keyEntries = (await entries(undefined, `&key_id=${admin}`)).filter((e) => e.object_id === carol.id);
    assert.deepEqual(keyEntries.map((e) => e.action), ['key.created', 'key.revoked']);
    assert.deepEqual(keyEntries[0]!.summary, { name: 'carol', admin: false, domains: ['carol.test'], by: 'key' });
    const all = await entries(undefined);
    assert.ok(own.every((e) => all.some((a) => a.object_id === e.object_id && a.action === e.action)));
  });

  it('a change that fails records nothing', async () => {
    const before = (await entries(undefined)).length;
    const dave = await h.newKey('dave');
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/domains/none.example', auth: dave.secret })).statusCode, 404);
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/webhooks/wh_nothing', auth: dave.secret })).statusCode, 404);
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/keys/key_nothing' })).statusCode, 404);
    assert.equal((await entries(undefined)).length, before + 1, "only dave's key.created (h.newKey)");
  });
});
