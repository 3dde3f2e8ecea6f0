import { createHash, type Hash } from 'node:crypto';

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

const SP = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const isWsp = (byte: number | undefined) => byte === SP || byte === TAB;

/** Where `buf` ends once trailing whitespace and empty lines are dropped (relaxed canonicalization). */
function relaxedEnd(buf: Buffer): number {
  let end = buf.length;
  for (;;) {
    if (end >= 2 && buf[end - 2] === CR && buf[end - 1] === LF) end -= 2;
    else if (end >= 1 && isWsp(buf[end - 1])) end -= 1;
    else return end;
  }
}

/**
 * Feeds buf[0, end) relaxed (whitespace runs as one space, none before a line end) to the hash, in
 * spans between the whitespace that changes: a 20 MB attachment's base64 lines are hashed where they
 * lie, never copied into a string.
 */
function hashRelaxed(hash: Hash, buf: Buffer, end: number): void {
  let from = 0;
  let space = buf.indexOf(SP);
  let tab = buf.indexOf(TAB);
  for (;;) {
    const run = space < 0 ? tab : tab < 0 ? space : Math.min(space, tab);
    if (run < 0 || run >= end) break;
    let after = run;
    while (after < end && isWsp(buf[after])) after++;
    const beforeLineEnd = buf[after] === CR && buf[after + 1] === LF;
    if (beforeLineEnd || after - run > 1 || buf[run] === TAB) {
      hash.update(buf.subarray(from, run));
      if (!beforeLineEnd) hash.update(' ');
      from = after;
    }
    if (space >= 0 && space < after) space = buf.indexOf(SP, after);
    if (tab >= 0 && tab < after) tab = buf.indexOf(TAB, after);
  }
  hash.update(buf.subarray(from, end));
}

/**
 * The relaxed body hash (RFC 6376 3.4.4) of a body given whole or as pieces. Pieces are hashed one by
 * one where no whitespace run or line end can span two of them (each but the last ends a line or a
 * base64 line, the last is not blank), as composed bodies are; anything else is joined first.
 */
export function bodyHash(body: Buffer | string | Buffer[]): string {
  if (typeof body === 'string') return createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');
  const pieces = (Array.isArray(body) ? body : [body]).filter((piece) => piece.length > 0);
  const last = pieces[pieces.length - 1];
  const separable = pieces.slice(0, -1).every((piece) => !isWsp(piece[piece.length - 1]) && piece[piece.length - 1] !== CR);
  if (!last || !separable || relaxedEnd(last) === 0) {
    const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    const end = relaxedEnd(whole);
    const hash = createHash('sha256');
    if (end > 0) {
      hashRelaxed(hash, whole, end);
      hash.update('\r\n');
    }
    return hash.digest('base64');
  }
  const hash = createHash('sha256');
  pieces.forEach((piece, i) => hashRelaxed(hash, piece, i === pieces.length - 1 ? relaxedEnd(piece) : piece.length));
  hash.update('\r\n');
  return hash.digest('base64');
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
