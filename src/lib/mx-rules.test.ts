import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isCacheable, isNullMx, verdictFromAddresses, verdictFromMx } from './mx-rules.ts';

it('a null MX is exactly one record of priority 0 pointing at the root', () => {
  assert.equal(isNullMx([{ exchange: '', priority: 0 }]), true);
  assert.equal(isNullMx([{ exchange: '.', priority: 0 }]), true);
  assert.equal(isNullMx([{ exchange: '.', priority: 10 }]), false);
  assert.equal(isNullMx([{ exchange: 'mx.example', priority: 0 }]), false);
  assert.equal(isNullMx([{ exchange: '', priority: 0 }, { exchange: 'mx.example', priority: 10 }]), false);
});

it('the MX answer decides when it can, and defers to A/AAAA when there is no MX', () => {
  assert.deepEqual(verdictFromMx({ kind: 'records', records: [{ exchange: 'mx.example', priority: 5 }] }), { kind: 'deliverable', via: 'mx' });
  assert.deepEqual(verdictFromMx({ kind: 'records', records: [{ exchange: '', priority: 0 }] }), { kind: 'undeliverable', reason: 'null_mx' });
  assert.deepEqual(verdictFromMx({ kind: 'nxdomain' }), { kind: 'undeliverable', reason: 'nxdomain' });
  assert.deepEqual(verdictFromMx({ kind: 'error', code: 'ETIMEOUT' }), { kind: 'unknown', code: 'ETIMEOUT' });
  assert.equal(verdictFromMx({ kind: 'nodata' }), null);
});

it('with no MX, an A or AAAA record makes the domain deliverable (RFC 5321 implicit MX)', () => {
  const none = { kind: 'nodata' } as const;
  assert.deepEqual(verdictFromAddresses({ kind: 'records', records: ['192.0.2.1'] }, none), { kind: 'deliverable', via: 'address' });
  assert.deepEqual(verdictFromAddresses(none, { kind: 'records', records: ['2001:db8::1'] }), { kind: 'deliverable', via: 'address' });
  assert.deepEqual(verdictFromAddresses(none, none), { kind: 'undeliverable', reason: 'no_mail_host' });
  assert.deepEqual(verdictFromAddresses(none, { kind: 'error', code: 'ESERVFAIL' }), { kind: 'unknown', code: 'ESERVFAIL' });
  assert.deepEqual(verdictFromAddresses({ kind: 'error', code: 'ETIMEOUT' }, { kind: 'records', records: ['2001:db8::1'] }), { kind: 'deliverable', via: 'address' });
});

it('only definite verdicts are cacheable', () => {
  assert.equal(isCacheable({ kind: 'deliverable', via: 'mx' }), true);
  assert.equal(isCacheable({ kind: 'undeliverable', reason: 'nxdomain' }), true);
  assert.equal(isCacheable({ kind: 'unknown', code: 'ETIMEOUT' }), false);
});
