import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal payloads give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** What identifies a request for Idempotency-Key purposes: the operation and its canonical payload. */
export function requestHash(operation: string, payload: unknown): string {
  return createHash('sha256').update(operation).update('\n').update(canonicalJson(payload)).digest('hex');
}
