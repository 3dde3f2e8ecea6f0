import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRecord, type CheckedRecord, expectedRecords, isAddressOnDomains, isVerified } from './records.ts';

const records = expectedRecords({ domain: 'example.com', selector: 'md', publicKeyBase64: 'MIIBkey', sendingHost: 'mta.example.net', bounceDomain: 'bounce.example.net' });
const byPurpose = (p: string) => records.find((r) => r.purpose === p)!;

describe('domain records', () => {
  it('names the records to publish', () => {
    assert.deepEqual(
      records.map((r) => [r.purpose, r.type, r.name]),
      [
        ['spf', 'TXT', 'example.com'],
        ['dkim', 'TXT', 'md._domainkey.example.com'],
        ['dmarc', 'TXT', '_dmarc.example.com'],
        ['return_path', 'CNAME', 'bounces.example.com'],
      ],
    );
    assert.equal(byPurpose('dkim').value, 'v=DKIM1; k=rsa; p=MIIBkey');
  });

  it('checks SPF for our host among other mechanisms', () => {
    const spf = byPurpose('spf');
    assert.equal(checkRecord(spf, { kind: 'found', values: ['v=spf1 include:_spf.google.com a:mta.example.net -all'] }).status, 'verified');
    assert.equal(checkRecord(spf, { kind: 'found', values: ['v=spf1 include:other.net ~all'] }).status, 'mismatch');
    assert.equal(checkRecord(spf, { kind: 'found', values: ['google-site-verification=x'] }).status, 'missing');
    assert.equal(checkRecord(spf, { kind: 'none' }).status, 'missing');
    assert.equal(checkRecord(spf, { kind: 'unreachable' }).status, 'unreachable');
  });

  it('checks the DKIM key, ignoring spacing', () => {
    const dkim = byPurpose('dkim');
    assert.equal(checkRecord(dkim, { kind: 'found', values: ['v=DKIM1;  k=rsa;  p=MIIBkey'] }).status, 'verified');
    assert.equal(checkRecord(dkim, { kind: 'found', values: ['v=DKIM1; k=rsa; p=OTHER'] }).status, 'mismatch');
  });

  it('is verified only when every required record is', () => {
    const checked: CheckedRecord[] = records.map((r) => ({ ...r, status: r.required ? 'verified' : 'missing' }));
    assert.equal(isVerified(checked), true);
    checked[0]!.status = 'mismatch';
    assert.equal(isVerified(checked), false);
  });

  it('allows a from address on a verified domain or its subdomain', () => {
    assert.equal(isAddressOnDomains('a@example.com', ['example.com']), true);
    assert.equal(isAddressOnDomains('a@News.Example.com', ['example.com']), true);
    assert.equal(isAddressOnDomains('a@badexample.com', ['example.com']), false);
    assert.equal(isAddressOnDomains('a@example.org', ['example.com']), false);
    assert.equal(isAddressOnDomains('nobody', ['example.com']), false);
  });
});
