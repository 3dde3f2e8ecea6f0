import { isFullyQualified } from '../../lib/host-names.ts';

/** The DNS records a sending domain publishes, and how answers from DNS compare with them. Pure. */

export type RecordPurpose = 'spf' | 'dkim' | 'dmarc' | 'return_path';
export type RecordStatus = 'unchecked' | 'verified' | 'missing' | 'mismatch' | 'unreachable';

export interface ExpectedRecord {
  purpose: RecordPurpose;
  type: 'TXT' | 'CNAME';
  name: string;
  value: string;
  required: boolean;
}

export interface CheckedRecord extends ExpectedRecord {
  status: RecordStatus;
}

export interface RecordContext {
  domain: string;
  selector: string;
  publicKeyBase64: string;
  /** The host mail leaves from, authorised by SPF. */
  sendingHost: string;
  bounceDomain: string;
}

/** What stands in an SPF record for a sending host that DNS cannot name (MAILERDASH_HOSTNAME is not fully qualified). */
export const UNNAMED_HOST = 'YOUR-SERVER.EXAMPLE.COM';

export function expectedRecords(ctx: RecordContext): ExpectedRecord[] {
  // A bare host name ("vm") in a:… matches nothing from outside this network: the record would fail every check.
  const host = isFullyQualified(ctx.sendingHost) ? ctx.sendingHost : UNNAMED_HOST;
  return [
    { purpose: 'spf', type: 'TXT', name: ctx.domain, value: `v=spf1 a:${host} ~all`, required: true },
    { purpose: 'dkim', type: 'TXT', name: `${ctx.selector}._domainkey.${ctx.domain}`, value: `v=DKIM1; k=rsa; p=${ctx.publicKeyBase64}`, required: true },
    { purpose: 'dmarc', type: 'TXT', name: `_dmarc.${ctx.domain}`, value: `v=DMARC1; p=none; adkim=r; aspf=r`, required: false },
    { purpose: 'return_path', type: 'CNAME', name: `bounces.${ctx.domain}`, value: ctx.bounceDomain, required: false },
  ];
}

/** What DNS said for one name: the records found, nothing there, or no usable answer. */
export type DnsAnswer = { kind: 'found'; values: string[] } | { kind: 'none' } | { kind: 'unreachable' };

const squash = (s: string) => s.replace(/\s+/g, '').toLowerCase();

export function checkRecord(expected: ExpectedRecord, answer: DnsAnswer): CheckedRecord {
  if (answer.kind === 'unreachable') return { ...expected, status: 'unreachable' };
  if (answer.kind === 'none') return { ...expected, status: 'missing' };
  return { ...expected, status: matches(expected, answer.values) };
}

function matches(expected: ExpectedRecord, values: string[]): RecordStatus {
  switch (expected.purpose) {
    case 'spf': {
      const spf = values.filter((v) => squash(v).startsWith('v=spf1'));
      if (!spf.length) return 'missing';
      const host = expected.value.split(' ')[1]!.toLowerCase();
      return spf.some((v) => v.toLowerCase().split(/\s+/).some((m) => m.replace(/^[+~?]/, '') === host)) ? 'verified' : 'mismatch';
    }
    case 'dkim': {
      const key = squash(expected.value).split('p=')[1]!;
      const dkim = values.filter((v) => squash(v).includes('p='));
      if (!dkim.length) return 'missing';
      return dkim.some((v) => squash(v).split(';').includes(`p=${key}`)) ? 'verified' : 'mismatch';
    }
    case 'dmarc':
      return values.some((v) => squash(v).startsWith('v=dmarc1')) ? 'verified' : 'missing';
    case 'return_path':
      return values.some((v) => v.toLowerCase().replace(/\.$/, '') === expected.value.toLowerCase()) ? 'verified' : 'mismatch';
  }
}

/** A domain is verified by DNS once every required record is in place. */
export function isVerified(records: CheckedRecord[]): boolean {
  return records.filter((r) => r.required).every((r) => r.status === 'verified');
}

/** Whether mail from `address` may be sent by a key that owns `verifiedDomains` (subdomains included). */
export function isAddressOnDomains(address: string, verifiedDomains: string[]): boolean {
  const at = address.lastIndexOf('@');
  if (at < 0) return false;
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, '');
  return verifiedDomains.some((d) => domain === d || domain.endsWith(`.${d}`));
}
