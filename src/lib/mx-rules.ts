/** What a DNS query answered, reduced to what the deliverability verdict needs. */
export type DnsOutcome<T> =
  | { kind: 'records'; records: T[] }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  /** Timeout, SERVFAIL, refused: no knowledge either way. */
  | { kind: 'error'; code: string };

export interface MxRecord {
  exchange: string;
  priority: number;
}

export type MxVerdict =
  | { kind: 'deliverable'; via: 'mx' | 'address' }
  | { kind: 'undeliverable'; reason: 'null_mx' | 'nxdomain' | 'no_mail_host' }
  /** No verdict (DNS trouble): never cached and never a rejection on its own. */
  | { kind: 'unknown'; code: string };

/** RFC 7505: a domain that accepts no mail publishes exactly one MX, priority 0, exchange ".". */
export function isNullMx(records: MxRecord[]): boolean {
  if (records.length !== 1) return false;
  const [only] = records;
  return only!.priority === 0 && (only!.exchange === '' || only!.exchange === '.');
}

/** Whether the MX answer alone settles the matter (and the address lookup can be skipped). */
export function verdictFromMx(mx: DnsOutcome<MxRecord>): MxVerdict | null {
  if (mx.kind === 'nxdomain') return { kind: 'undeliverable', reason: 'nxdomain' };
  if (mx.kind === 'error') return { kind: 'unknown', code: mx.code };
  if (mx.kind === 'records') {
    if (isNullMx(mx.records)) return { kind: 'undeliverable', reason: 'null_mx' };
    if (mx.records.some((r) => r.exchange !== '' && r.exchange !== '.')) return { kind: 'deliverable', via: 'mx' };
  }
  return null;
}

/** RFC 5321 section 5.1: with no MX, the domain's own A/AAAA record is the mail host (implicit MX). */
export function verdictFromAddresses(a: DnsOutcome<string>, aaaa: DnsOutcome<string>): MxVerdict {
  if (a.kind === 'records' && a.records.length) return { kind: 'deliverable', via: 'address' };
  if (aaaa.kind === 'records' && aaaa.records.length) return { kind: 'deliverable', via: 'address' };
  if (a.kind === 'error') return { kind: 'unknown', code: a.code };
  if (aaaa.kind === 'error') return { kind: 'unknown', code: aaaa.code };
  if (a.kind === 'nxdomain' && aaaa.kind === 'nxdomain') return { kind: 'undeliverable', reason: 'nxdomain' };
  return { kind: 'undeliverable', reason: 'no_mail_host' };
}

/** A definite verdict is cached; an unknown one is asked again next time. */
export function isCacheable(verdict: MxVerdict): boolean {
  return verdict.kind !== 'unknown';
}
