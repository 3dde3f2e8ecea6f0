import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../test/support/dns-server.ts';
import { createResolver } from './dns.ts';
import { classifyAddress, createOutboundGuard, UrlRefused, type OutboundGuardOptions } from './ssrf.ts';

test('classifyAddress: public addresses are allowed', () => {
  for (const ip of ['8.8.8.8', '93.184.216.34', '2606:4700::1111', '[2606:4700::1111]', '::ffff:8.8.8.8', '172.32.0.1', '100.128.0.1']) {
    assert.deepEqual(classifyAddress(ip), { allowed: true }, ip);
  }
});

test('classifyAddress: private, local and reserved addresses are refused with a reason', () => {
  const cases: Record<string, string> = {
    '127.0.0.1': 'loopback',
    '10.0.0.1': 'private (RFC 1918)',
    '172.31.255.255': 'private (RFC 1918)',
    '192.168.1.1': 'private (RFC 1918)',
    '169.254.169.254': 'link-local',
    '100.64.1.1': 'CGNAT',
    '0.0.0.0': 'unspecified',
    '192.0.2.1': 'documentation',
    '198.19.0.1': 'benchmarking',
    '224.0.0.1': 'multicast',
    '255.255.255.255': 'broadcast',
    '240.0.0.1': 'reserved',
    '::': 'unspecified',
    '::1': 'loopback',
    '[::1]': 'loopback',
    '0:0:0:0:0:0:0:1': 'loopback',
    '[::ffff:127.0.0.1]': 'IPv4-mapped loopback',
    '::ffff:7f00:1': 'IPv4-mapped loopback',
    '::FFFF:A9FE:A9FE': 'IPv4-mapped link-local',
    '::10.0.0.1': 'IPv4-compatible private (RFC 1918)',
    '64:ff9b::127.0.0.1': 'NAT64 loopback',
    '2002:7f00:1::': '6to4 loopback',
    'fd00::1': 'IPv6 unique local',
    'fe80::1%eth0': 'link-local',
    '[fe80::1%25eth0]': 'link-local',
    'ff02::1': 'multicast',
    '2001:db8::1': 'documentation',
    '100::1': 'reserved',
  };
  for (const [ip, reason] of Object.entries(cases)) {
    assert.deepEqual(classifyAddress(ip), { allowed: false, reason }, ip);
  }
  for (const junk of ['localhost', '', '1.2.3', '1::2::3', '127.0.0.1.']) {
    assert.equal(classifyAddress(junk).allowed, false, junk);
  }
});

async function refusal(promise: Promise<unknown>): Promise<UrlRefused> {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof UrlRefused, String(error));
  return error;
}

test('check(): IP literals that are not public are forbidden', async () => {
  const guard = createOutboundGuard({ allowHosts: [] });
  for (const url of ['https://127.0.0.1/x', 'https://10.0.0.1/', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/', 'https://[::ffff:127.0.0.1]/', 'https://0x7f.1/', 'https://2130706433/']) {
    const error = await refusal(guard.check(url));
    assert.equal(error.code, 'webhook_url_forbidden', url);
  }
  const metadata = await refusal(guard.check('https://169.254.169.254/latest/meta-data'));
  assert.match(metadata.message, /169\.254\.169\.254.*link-local/);
});

test('check(): bad schemes, credentials and garbage are invalid', async () => {
  const guard = createOutboundGuard({ allowHosts: [] });
  for (const url of ['http://example.com/', 'ftp://example.com/file', 'not a url', 'https://user:pw@example.com/', 'https://user@example.com/', 'file:///etc/passwd', 'javascript:alert(1)']) {
    const error = await refusal(guard.check(url));
    assert.equal(error.code, 'webhook_url_invalid', url);
  }
});

test('check(): an allowed host may use http and a private address', async () => {
  const target = await createOutboundGuard({ allowHosts: ['127.0.0.1'] }).check('http://127.0.0.1:1234/hook');
  assert.equal(target.host, '127.0.0.1');
  assert.equal(target.url.port, '1234');
  assert.deepEqual(target.addresses, [{ address: '127.0.0.1', family: 4 }]);

  // IPv6 allow-list entries match whatever spelling the URL uses.
  const v6 = await createOutboundGuard({ allowHosts: ['[0:0:0:0:0:0:0:1]'] }).check('http://[::1]:8080/');
  assert.deepEqual(v6.addresses, [{ address: '::1', family: 6 }]);
  const other = await refusal(createOutboundGuard({ allowHosts: ['127.0.0.1'] }).check('https://127.0.0.2/'));
  assert.equal(other.code, 'webhook_url_forbidden');
});

let dns: TestDnsServer;
let web: http.Server;
let webPort: number;
let hits = 0;

before(async () => {
  dns = await startDnsServer({
    'rebind.test': [{ type: 'A', address: '127.0.0.1' }],
    'public.test': [{ type: 'A', address: '93.184.216.34' }],
    'v6local.test': [{ type: 'AAAA', address: 'fd00::1' }],
    'mixed.test': [{ type: 'A', address: '93.184.216.34' }, { type: 'AAAA', address: 'fe80::2' }],
    'localhost-alias.test': [{ type: 'A', address: '127.0.0.1' }],
  });
  web = http.createServer((_req, res) => {
    hits += 1;
    res.end('ok');
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webPort = (web.address() as AddressInfo).port;
});

after(async () => {
  web.closeAllConnections();
  await new Promise((resolve) => web.close(resolve));
  await dns.close();
});

const guardOn = (allowHosts: string[] = []) =>
  createOutboundGuard({ allowHosts, resolver: createResolver([dns.address], 500) } satisfies OutboundGuardOptions);

test('check() with a resolver: names are resolved and every address is checked', async () => {
  const guard = guardOn();
  const rebind = await refusal(guard.check('https://rebind.test/'));
  assert.equal(rebind.code, 'webhook_url_forbidden');
  assert.match(rebind.message, /rebind\.test resolves to 127\.0\.0\.1.*loopback/);

  const target = await guard.check('https://PUBLIC.test/hook');
  assert.equal(target.host, 'public.test');
  assert.deepEqual(target.addresses, [{ address: '93.184.216.34', family: 4 }]);

  assert.equal((await refusal(guard.check('https://v6local.test/'))).code, 'webhook_url_forbidden');
  const mixed = await refusal(guard.check('https://mixed.test/'));
  assert.equal(mixed.code, 'webhook_url_forbidden', 'one private address among public ones refuses the host');
  assert.match(mixed.message, /fe80::2.*link-local/);
  assert.equal((await refusal(guard.check('https://nx.test/'))).code, 'webhook_url_unresolvable');

  const allowed = await guardOn(['localhost-alias.test']).check('http://localhost-alias.test:1234/');
  assert.deepEqual(allowed.addresses, [{ address: '127.0.0.1', family: 4 }]);
  assert.equal((await refusal(guard.check('http://localhost-alias.test/'))).code, 'webhook_url_invalid');
});

function lookupWith(guard: ReturnType<typeof guardOn>, host: string, options: unknown): Promise<{ error: any; result: unknown[] }> {
  return new Promise((resolve) => guard.lookup(host, options, (error: any, ...result: unknown[]) => resolve({ error, result })));
}

test('lookup(): refuses rebinding answers and hands back only checked addresses', async () => {
  const guard = guardOn();
  const rebind = await lookupWith(guard, 'rebind.test', {});
  assert.equal(rebind.error?.code, 'webhook_url_forbidden');
  assert.match(rebind.error.message, /127\.0\.0\.1.*loopback/);

  const all = await lookupWith(guard, 'public.test', { all: true });
  assert.equal(all.error, null);
  assert.deepEqual(all.result, [[{ address: '93.184.216.34', family: 4 }]]);
  assert.deepEqual((await lookupWith(guard, 'public.test', { family: 4 })).result, ['93.184.216.34', 4]);

  const v6 = await lookupWith(guard, 'v6local.test', { family: 6 });
  assert.equal(v6.error?.code, 'webhook_url_forbidden');
  assert.match(v6.error.message, /fd00::1.*IPv6 unique local/);
  assert.equal((await lookupWith(guard, 'nx.test', {})).error?.code, 'webhook_url_unresolvable');
  assert.equal((await lookupWith(guard, 'public.test', { family: 6 })).error?.code, 'webhook_url_unresolvable');
});

function get(guard: ReturnType<typeof guardOn>): Promise<{ status?: number; error?: any }> {
  return new Promise((resolve) => {
    const request = http.get({ host: 'localhost-alias.test', port: webPort, path: '/hook', agent: false, lookup: guard.lookup }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
    });
    request.on('error', (error) => resolve({ error }));
  });
}

test('lookup() as the connect lookup: a real request goes only through checked addresses', async () => {
  const before = hits;
  const allowed = await get(guardOn(['localhost-alias.test']));
  assert.equal(allowed.status, 200);
  assert.equal(hits, before + 1);

  const refused = await get(guardOn());
  assert.equal(refused.error?.code, 'webhook_url_forbidden');
  assert.equal(hits, before + 1, 'the refused request never reached the server');
});
