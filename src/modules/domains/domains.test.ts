import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer, type ZoneRecord } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const json = { 'content-type': 'application/json' };
type Record = { purpose: string; type: 'TXT' | 'CNAME'; name: string; value: string; status: string };

describeEachEngine('sending domains', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let alice: { id: string; secret: string };
  let bob: { id: string; secret: string };

  before(async () => {
    dns = await startDnsServer();
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    alice = await h.newKey('alice');
    bob = await h.newKey('bob');
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  it('adding a domain answers the records to publish; DNS then verifies it', async () => {
    const added = await h.call({ method: 'POST', url: '/v1/domains', headers: json, payload: { domain: 'Alice.Example' }, auth: alice.secret });
    assert.equal(added.statusCode, 201);
    const domain = added.json();
    assert.equal(domain.domain, 'alice.example');
    assert.equal(domain.verified, false);
    const records: Record[] = domain.records;
    assert.deepEqual(records.map((r) => r.purpose), ['spf', 'dkim', 'dmarc', 'return_path']);
    assert.ok(records.every((r) => r.status === 'unchecked'));
    assert.match(records[1]!.value, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);

    const unpublished = await h.call({ method: 'POST', url: '/v1/domains/alice.example/verify', auth: alice.secret });
    assert.equal(unpublished.statusCode, 200);
    assert.equal(unpublished.json().verified, false);
    assert.deepEqual(unpublished.json().records.map((r: Record) => r.status), ['missing', 'missing', 'missing', 'missing']);
    assert.equal(await h.context.services.domains.isFromAllowed(alice.id, 'hi@alice.example'), false);

    for (const r of records) {
      const entry = (dns.zone[r.name] ??= []) as ZoneRecord[];
      entry.push(r.type === 'TXT' ? { type: 'TXT', data: r.value } : { type: 'CNAME', domain: r.value });
    }
    const published = await h.call({ method: 'POST', url: '/v1/domains/alice.example/verify', auth: alice.secret });
    assert.equal(published.json().verified, true);
    assert.equal(published.json().verified_by, 'dns');
    assert.deepEqual(published.json().records.map((r: Record) => r.status), ['verified', 'verified', 'verified', 'verified']);
    assert.equal(await h.context.services.domains.isFromAllowed(alice.id, 'hi@news.alice.example'), true);
    assert.ok(dns.queries.some((q) => q.name.startsWith('mailerdash._domainkey.alice.example')));
  });

  it('a wrong DKIM key is a mismatch and leaves the domain unverified', async () => {
    await h.call({ method: 'POST', url: '/v1/domains', headers: json, payload: { domain: 'bob.example' }, auth: bob.secret });
    dns.zone['bob.example'] = [{ type: 'TXT', data: 'v=spf1 a:mta.test ~all' }];
    dns.zone['mailerdash._domainkey.bob.example'] = [{ type: 'TXT', data: 'v=DKIM1; k=rsa; p=AAAA' }];
    const res = await h.call({ method: 'POST', url: '/v1/domains/bob.example/verify', auth: bob.secret });
    assert.equal(res.json().verified, false);
    assert.deepEqual(res.json().records.slice(0, 2).map((r: Record) => r.status), ['verified', 'mismatch']);
  });

  it('an unanswering DNS server says unreachable, never verified', async () => {
    await h.call({ method: 'POST', url: '/v1/domains', headers: json, payload: { domain: 'quiet.example' }, auth: bob.secret });
    dns.zone['quiet.example'] = 'servfail';
    const res = await h.call({ method: 'POST', url: '/v1/domains/quiet.example/verify', auth: bob.secret });
    assert.equal(res.json().verified, false);
    assert.equal(res.json().records[0].status, 'unreachable');
  });

  it('rejects bad and duplicate domains', async () => {
    const bad = await h.call({ method: 'POST', url: '/v1/domains', headers: json, payload: { domain: 'not a domain' }, auth: alice.secret });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errors[0].field, 'domain');
    const dup = await h.call({ method: 'POST', url: '/v1/domains', headers: json, payload: { domain: 'alice.example' }, auth: alice.secret });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().errors[0].code, 'domain_exists');
  });

  it('a key never sees another key\'s domains', async () => {
    for (const [method, url] of [
      ['GET', '/v1/domains/alice.example'],
      ['POST', '/v1/domains/alice.example/verify'],
      ['DELETE', '/v1/domains/alice.example'],
    ] as const) {
      const res = await h.call({ method, url, auth: bob.secret });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
    }
    const list = await h.call({ method: 'GET', url: '/v1/domains', auth: bob.secret });
    assert.deepEqual(list.json().data.map((d: { domain: string }) => d.domain).sort(), ['bob.example', 'quiet.example']);
    const filter = await h.call({ method: 'GET', url: `/v1/domains?key_id=${alice.id}`, auth: bob.secret });
    assert.equal(filter.statusCode, 403);
    const admin = await h.call({ method: 'GET', url: `/v1/domains?key_id=${alice.id}` });
    assert.deepEqual(admin.json().data.map((d: { domain: string }) => d.domain), ['alice.example']);
    assert.equal(await h.context.services.domains.isFromAllowed(bob.id, 'x@alice.example'), false);
  });

  it('removing a domain', async () => {
    assert.equal((await h.call({ method: 'DELETE', url: '/v1/domains/quiet.example', auth: bob.secret })).statusCode, 204);
    assert.equal((await h.call({ method: 'GET', url: '/v1/domains/quiet.example', auth: bob.secret })).statusCode, 404);
  });

  it('DKIM private keys are sealed at rest; keys stored as PEM before are sealed by the job and still sign', async () => {
    const { createPrivateKey, createPublicKey, sign, verify } = await import('node:crypto');
    const added = await h.call({ method: 'POST', url: '/v1/domains', headers: json, payload: { domain: 'sealed.example' }, auth: alice.secret });
    assert.equal(added.statusCode, 201);
    const stored = async (domain: string) =>
      (await h.database.db.selectFrom('domains').select(['dkim_private_key', 'dkim_public_key']).where('domain', '=', domain).executeTakeFirstOrThrow());
    // Only a verified domain signs.
    await h.database.db.updateTable('domains').set({ verified_at: new Date(), verified_by: 'operator' }).where('domain', '=', 'sealed.example').execute();
    const row = await stored('sealed.example');
    assert.match(row.dkim_private_key, /^v1\./);
    assert.ok(!row.dkim_private_key.includes('PRIVATE KEY'));
    const signs = async (domain: string, publicKeyBase64: string) => {
      const key = await h.context.services.domains.signingKeyFor(alice.id, `news@${domain}`);
      assert.ok(key, domain);
      const signature = sign('sha256', Buffer.from('x'), createPrivateKey(key.privateKeyPem));
      return verify('sha256', Buffer.from('x'), createPublicKey({ key: Buffer.from(publicKeyBase64, 'base64'), format: 'der', type: 'spki' }), signature);
    };
    assert.ok(await signs('sealed.example', row.dkim_public_key));

    // A row from before sealing: its PEM, put back as it was stored then.
    const pem = (await h.context.services.domains.signingKeyFor(alice.id, 'news@sealed.example'))!.privateKeyPem;
    await h.database.db.updateTable('domains').set({ dkim_private_key: pem }).where('domain', '=', 'sealed.example').execute();
    assert.ok(await signs('sealed.example', row.dkim_public_key), 'a PEM key still signs before the job runs');
    const job = h.context.jobs.find((j) => j.name === 'seal-dkim-keys')!;
    assert.ok((await job.runOnce()) >= 1);
    assert.equal(await job.runOnce(), 0);
    assert.match((await stored('sealed.example')).dkim_private_key, /^v1\./);
    assert.ok(await signs('sealed.example', row.dkim_public_key));
  });
});
