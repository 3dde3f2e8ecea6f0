import assert from 'node:assert/strict';
import { it } from 'node:test';
import { disposableDomainCount, isDisposableDomain } from './disposable-domains.ts';
import { addressKey, checkAddress } from './email-address.ts';

it('accepts RFC 5321 addresses and lower-cases only the domain', () => {
  const ok = checkAddress('Ana.Perez+tag@Example.COM');
  assert.deepEqual(ok, { ok: true, value: { local: 'Ana.Perez+tag', domain: 'example.com', address: 'Ana.Perez+tag@example.com' } });
  assert.equal(checkAddress('"quoted local"@example.com').ok, true);
  assert.equal(addressKey((checkAddress('A@B.example') as { ok: true; value: any }).value), 'a@b.example');
});

it('converts internationalised domains to ASCII', () => {
  const idn = checkAddress('jöran@Bücher.de');
  assert.equal(idn.ok, true);
  assert.equal(idn.ok && idn.value.address, 'jöran@xn--bcher-kva.de');
});

it('refuses what is not an envelope address', () => {
  for (const bad of ['plain', '@example.com', 'user@', 'a..b@example.com', '.a@example.com', 'a b@example.com', 'user@localhost', 'user@example', 'Name <a@example.com>', 'user@[192.0.2.1]', 'user@-bad.example', 'user@exa_mple.com', `${'x'.repeat(250)}@example.com`]) {
    assert.equal(checkAddress(bad).ok, false, bad);
  }
});

it('knows at least 5,000 disposable domains, subdomains included', () => {
  assert.ok(disposableDomainCount() >= 5000, `only ${disposableDomainCount()}`);
  assert.equal(isDisposableDomain('mailinator.com'), true);
  assert.equal(isDisposableDomain('eu.mailinator.com'), true);
  assert.equal(isDisposableDomain('example.com'), false);
  assert.equal(isDisposableDomain('mailinator.com.example.org'), false);
});

it('the fast path for everyday addresses agrees with the RFC 5321 parser', async () => {
  const { parse } = await import('smtp-address-parser');
  const locals = ['a', 'ana.perez', 'x_y+tag', 'A-B', '1.2.3', '-lead'];
  const domains = ['example.com', 'sub.example.co', 'a-b.example.org', 'xn--bcher-kva.example'];
  for (const local of locals) {
    for (const domain of domains) {
      const address = `${local}@${domain}`;
      let parserSays = true;
      try {
        parse(address);
      } catch {
        parserSays = false;
      }
      assert.equal(checkAddress(address).ok, parserSays, address);
    }
  }
});
