import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFullyQualified, isLocalUrl } from '../../lib/host-names.ts';
import { expectedRecords, UNNAMED_HOST } from '../domains/records.ts';
import { setupChecks, type SetupFacts } from './setup-checks.ts';

const healthy: SetupFacts = { publicUrl: 'https://mail.example.com', hostname: 'mta.example.com', bounceDomain: 'bounce.example.com', outbox: 'none', bulkSending: false, bounceMx: 'found' };
const codes = (facts: Partial<SetupFacts>) => setupChecks({ ...healthy, ...facts }).map((c) => c.code);

describe('setup checks', () => {
  it('finds nothing wrong in a production setup, and an outbox chosen by name is no problem', () => {
    assert.deepEqual(codes({}), []);
    assert.deepEqual(codes({ outbox: 'chosen' }), []);
    assert.deepEqual(codes({ bounceMx: 'unknown' }), [], 'a failed lookup is not reported as a missing MX');
  });

  it('names each harmful setting with its variable and a fix', () => {
    const checks = setupChecks({ publicUrl: 'http://localhost:3000', hostname: 'vm', bounceDomain: 'vm', outbox: 'fallback', bulkSending: false, bounceMx: 'none' });
    assert.deepEqual(
      checks.map((c) => [c.code, c.variable, c.severity]),
      [
        ['localhost_public_url', 'MAILERDASH_PUBLIC_URL', 'warning'],
        ['hostname_not_fqdn', 'MAILERDASH_HOSTNAME', 'warning'],
        ['outbox_mode', 'MAILERDASH_SMTP_URL', 'warning'],
        ['bounce_domain_without_mx', 'MAILERDASH_BOUNCE_DOMAIN', 'warning'],
      ],
    );
    for (const check of checks) assert.match(check.fix, /set|publish/);
  });

  it('a localhost public URL is an error while campaigns are being sent', () => {
    assert.equal(setupChecks({ ...healthy, publicUrl: 'http://127.0.0.1:3000', bulkSending: true })[0]?.severity, 'error');
  });

  it('tells local URLs and fully qualified names apart', () => {
    for (const url of ['http://localhost:3000', 'http://127.0.0.1', 'http://[::1]:8080/x', 'http://app.localhost']) assert.equal(isLocalUrl(url), true, url);
    for (const url of ['https://mail.example.com', 'http://10.0.0.5:3000', 'not a url']) assert.equal(isLocalUrl(url), false, url);
    for (const host of ['mta.example.com', 'a.b', 'mail.example.com.']) assert.equal(isFullyQualified(host), true, host);
    for (const host of ['vm', 'localhost', '192.168.1.10', 'x.localhost', 'a..b']) assert.equal(isFullyQualified(host), false, host);
  });

  it('the suggested SPF record never names a bare host name', () => {
    const spf = (sendingHost: string) => expectedRecords({ domain: 'shop.example', selector: 's', publicKeyBase64: 'AAAA', sendingHost, bounceDomain: 'b.example' })[0]!;
    assert.equal(spf('mta.example.com').value, 'v=spf1 a:mta.example.com ~all');
    assert.equal(spf('vm').value, `v=spf1 a:${UNNAMED_HOST} ~all`);
  });
});
