import { createHash } from 'node:crypto';

/** DKIM (RFC 6376) with relaxed/relaxed canonicalization and rsa-sha256; the RSA step itself is done by a Signer. */

export interface DkimKey {
  domain: string;
  selector: string;
  privateKeyPem: string;
}

/** Signs the canonical header data with a PEM key; returns base64. Implemented by dkim-pool.ts. */
export type RsaSigner = (privateKeyPem: string, data: string) => Promise<string>;

/** Headers we sign when present: the ones a reader sees, and the ones that say how to read the body. */
export const SIGNED_HEADERS = [
  'from', 'to', 'cc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'list-unsubscribe', 'list-unsubscribe-post', 'x-md-channel',
];

/** Relaxed body canonicalization (RFC 6376 3.4.4) of an ASCII body with CRLF lines. */
export function relaxedBody(body: string): string {
  let canonical = body.replace(/[ \t]+\r\n/g, '\r\n').replace(/[ \t]+/g, ' ');
  canonical = canonical.replace(/[ ]+$/, '');
  canonical = canonical.replace(/(\r\n)+$/, '');
  return canonical.length ? `${canonical}\r\n` : '';
}

export function bodyHash(body: Buffer | string): string {
  const text = typeof body === 'string' ? body : body.toString('latin1');
  return createHash('sha256').update(relaxedBody(text), 'latin1').digest('base64');
}

/** Relaxed header canonicalization (RFC 6376 3.4.2) of one "Name: value" field (possibly folded). */
export function relaxedHeader(field: string): string {
  const colon = field.indexOf(':');
  const name = field.slice(0, colon).trim().toLowerCase();
  const value = field.slice(colon + 1).replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').trim();
  return `${name}:${value}`;
}

/** Splits a header block ("A: 1\r\nB: 2\r\n …") into fields, continuation lines kept with their field. */
export function splitHeaderFields(block: string): string[] {
  const fields: string[] = [];
  for (const line of block.split('\r\n')) {
    if (!line) continue;
    if ((line[0] === ' ' || line[0] === '\t') && fields.length) fields[fields.length - 1] += `\r\n${line}`;
    else fields.push(line);
  }
  return fields;
}

/**
 * The DKIM-Signature field (with its CRLF) for a header block and the body's hash.
 * Fields are signed bottom-up as RFC 6376 5.4.2 says, each named field once.
 */
export async function dkimSignatureField(key: DkimKey, headerBlock: string, bh: string, sign: RsaSigner, now: Date): Promise<string> {
  const fields = splitHeaderFields(headerBlock);
  const byName = new Map<string, string>();
  for (const field of fields) {
    const name = field.slice(0, field.indexOf(':')).trim().toLowerCase();
    byName.set(name, field);
  }
  const names = SIGNED_HEADERS.filter((n) => byName.has(n));
  const unsigned =
    `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=${key.domain}; s=${key.selector};\r\n` +
    `\tt=${Math.floor(now.getTime() / 1000)}; h=${names.join(':')};\r\n\tbh=${bh};\r\n\tb=`;
  const data = names.map((n) => `${relaxedHeader(byName.get(n)!)}\r\n`).join('') + relaxedHeader(unsigned);
  const signature = await sign(key.privateKeyPem, data);
  const folded = signature.match(/.{1,72}/g)!.join('\r\n\t');
  return `${unsigned}${folded}\r\n`;
}
