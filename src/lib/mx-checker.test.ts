import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../test/support/dns-server.ts';
import { createResolver } from './dns.ts';
import { createMxChecker } from './mx-checker.ts';

describe('MX checker against a loopback DNS server', () => {
  let dns: TestDnsServer;

  before(async () => {
    dns = await startDnsServer({
      'mx.example': [{ type: 'MX', exchange: 'mail.mx.example', priority: 10 }],
      'a-only.example': [{ type: 'A', address: '192.0.2.10' }],
      'aaaa-only.example': [{ type: 'AAAA', address: '2001:db8::10' }],
      'null-mx.example': [{ type: 'MX', exchange: '.', priority: 0 }, { type: 'A', address: '192.0.2.11' }],
      'txt-only.example': [{ type: 'TXT', data: 'v=spf1 -all' }],
      'broken.example': 'servfail',
      'silent.example': 'silent',
    });
  });
  after(() => dns.close());

  const checker = () => createMxChecker({ resolver: createResolver([dns.address], 150) });
  const queriesFor = (name: string) => dns.queries.filter((q) => q.name === name).length;

  it('gives a verdict for each kind of domain', async () => {
    const verdicts = await checker().checkAll(['mx.example', 'a-only.example', 'aaaa-only.example', 'null-mx.example', 'nx.example', 'txt-only.example']);
    assert.deepEqual(Object.fromEntries(verdicts), {
      'mx.example': { kind: 'deliverable', via: 'mx' },
      'a-only.example': { kind: 'deliverable', via: 'address' },
      'aaaa-only.example': { kind: 'deliverable', via: 'address' },
      'null-mx.example': { kind: 'undeliverable', reason: 'null_mx' },
      'nx.example': { kind: 'undeliverable', reason: 'nxdomain' },
      'txt-only.example': { kind: 'undeliverable', reason: 'no_mail_host' },
    });
  });

  it('SERVFAIL and silence are no verdict and are asked again; definite answers are cached', async () => {
    const mx = checker();
    const [broken, silent] = await Promise.all([mx.check('broken.example'), mx.check('silent.example')]);
    assert.equal(broken.kind, 'unknown');
    assert.equal(silent.kind, 'unknown');
    assert.equal(mx.size(), 0);
    const brokenBefore = queriesFor('broken.example');
    await mx.check('broken.example');
    assert.ok(queriesFor('broken.example') > brokenBefore, 'a SERVFAIL is looked up again');

    await mx.check('mx.example');
    const mxBefore = queriesFor('mx.example');
    assert.deepEqual(await mx.check('mx.example'), { kind: 'deliverable', via: 'mx' });
    assert.equal(queriesFor('mx.example'), mxBefore, 'the second ask is answered from the cache');
  });

  it('asks once for a domain many addresses share, and expires entries after the TTL', async () => {
    let clock = 1_000_000;
    const mx = createMxChecker({ resolver: createResolver([dns.address], 150), now: () => clock, ttlMs: 1000, maxEntries: 2 });
    const before = queriesFor('a-only.example');
    await Promise.all([mx.check('a-only.example'), mx.check('a-only.example'), mx.checkAll(['a-only.example', 'a-only.example'])]);
    const asked = queriesFor('a-only.example') - before;
    assert.ok(asked >= 1 && asked <= 3, `one lookup (MX, A, AAAA), saw ${asked} queries`);
    clock += 1001;
    await mx.check('a-only.example');
    assert.ok(queriesFor('a-only.example') - before > asked, 'an expired verdict is looked up again');
    await mx.checkAll(['mx.example', 'nx.example']);
    assert.equal(mx.size(), 2, 'the cache keeps at most maxEntries');
  });
});
