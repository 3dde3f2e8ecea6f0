import { base64Lines, quotedPrintable } from './mime-encoding.ts';

/**
 * Reading and lightly editing a message someone else wrote (SMTP submission), without recomposing it:
 * header fields split and named, and the text parts of its MIME tree rewritten in place (substitutions,
 * tracking) with every other byte left as it came.
 */

/** One header field as written (folded lines kept), with its lower-cased name. */
export interface HeaderField {
  name: string;
  /** The whole field, "Name: value" with its continuation lines, without the final CRLF. */
  text: string;
}

/** Splits a message into its header block and body at the first empty line. */
export function splitMessage(raw: Buffer): { header: Buffer; body: Buffer } {
  const at = raw.indexOf('\r\n\r\n');
  if (at < 0) return raw.subarray(0, 2).toString() === '\r\n' ? { header: Buffer.alloc(0), body: raw.subarray(2) } : { header: raw, body: Buffer.alloc(0) };
  return { header: raw.subarray(0, at + 2), body: raw.subarray(at + 4) };
}

export function parseHeaderFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split('\r\n')) {
    if (!line) continue;
    const last = fields[fields.length - 1];
    if ((line[0] === ' ' || line[0] === '\t') && last) last.text += `\r\n${line}`;
    else fields.push({ name: line.slice(0, Math.max(0, line.indexOf(':'))).trim().toLowerCase(), text: line });
  }
  return fields;
}

/** A field's value, unfolded and trimmed. */
export function fieldValue(field: HeaderField): string {
  return field.text.slice(field.text.indexOf(':') + 1).replace(/\r\n(?=[ \t])/g, '').trim();
}

/** The first field of that name's value, or null. */
export function headerValue(fields: HeaderField[], name: string): string | null {
  const field = fields.find((f) => f.name === name);
  return field ? fieldValue(field) : null;
}

/** "text/html; charset=utf-8" → { type: 'text/html', params: { charset: 'utf-8' } }. */
export function parseContentType(value: string | null): { type: string; params: Record<string, string> } {
  if (!value) return { type: 'text/plain', params: {} };
  const [type, ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const piece of rest) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    params[piece.slice(0, eq).trim().toLowerCase()] = piece.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type!.trim().toLowerCase(), params };
}

const QP_SOFT_BREAK = /=\r\n/g;

function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(QP_SOFT_BREAK, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined.charCodeAt(i);
    if (c === 61 && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes);
}

/** Rewrites the decoded text of one text/plain or text/html part; returns it unchanged when nothing applies. */
export type TextRewrite = (text: string, subtype: 'plain' | 'html') => string;

const UTF8_CHARSETS = new Set(['', 'utf-8', 'utf8', 'us-ascii', 'ascii']);
const EIGHT_BIT = /[\x80-\xff]/;

/**
 * One entity's body with its text parts rewritten. `header` and `body` are binary strings (latin1, one
 * char a byte). Returns null when nothing changed; `encoding` is set when the part had to change its
 * Content-Transfer-Encoding (7bit text that gained 8-bit characters becomes quoted-printable).
 * Parts in charsets other than UTF-8 or US-ASCII, and attachments, are left as they are.
 */
export function rewriteEntity(contentType: string | null, encoding: string | null, disposition: string | null, body: string, rewrite: TextRewrite): { body: string; encoding?: string } | null {
  const { type, params } = parseContentType(contentType);
  if (type.startsWith('multipart/') && params.boundary) {
    const rewritten = rewriteMultipart(body, params.boundary, rewrite);
    return rewritten === null ? null : { body: rewritten };
  }
  if ((type !== 'text/plain' && type !== 'text/html') || /^\s*attachment/i.test(disposition ?? '')) return null;
  if (!UTF8_CHARSETS.has((params.charset ?? '').toLowerCase())) return null;
  const cte = (encoding ?? '7bit').toLowerCase();
  const bytes = cte === 'base64' ? Buffer.from(body, 'base64') : cte === 'quoted-printable' ? decodeQuotedPrintable(body) : Buffer.from(body, 'latin1');
  const before = bytes.toString('utf8');
  const after = rewrite(before, type === 'text/html' ? 'html' : 'plain');
  if (after === before) return null;
  const trailing = body.endsWith('\r\n') ? '\r\n' : '';
  if (cte === 'base64') return { body: base64Lines(Buffer.from(after, 'utf8')) + trailing };
  // Quoted-printable keeps the text's own line breaks, the last one included.
  if (cte === 'quoted-printable') return { body: quotedPrintable(after) };
  const binary = Buffer.from(after, 'utf8').toString('latin1');
  if (cte === '8bit' || cte === 'binary' || !EIGHT_BIT.test(binary)) return { body: binary };
  return { body: quotedPrintable(after), encoding: 'quoted-printable' };
}

function rewriteMultipart(body: string, boundary: string, rewrite: TextRewrite): string | null {
  const delimiter = `--${boundary}`;
  const first = body.startsWith(delimiter) ? -2 : body.indexOf(`\r\n${delimiter}`);
  if (first === -1) return null;
  let pos = first + 2;
  let out = '';
  let copiedTo = 0;
  let changed = false;
  for (;;) {
    const after = pos + delimiter.length;
    if (body.startsWith('--', after)) break;
    const lineEnd = body.indexOf('\r\n', after);
    if (lineEnd < 0) break;
    const start = lineEnd + 2;
    const next = body.indexOf(`\r\n${delimiter}`, lineEnd);
    if (next < 0) break;
    const end = Math.max(start, next);
    const part = rewritePart(body.slice(start, end), rewrite);
    if (part !== null) {
      out += body.slice(copiedTo, start) + part;
      copiedTo = end;
      changed = true;
    }
    pos = next + 2;
  }
  return changed ? out + body.slice(copiedTo) : null;
}

function rewritePart(part: string, rewrite: TextRewrite): string | null {
  const split = part.startsWith('\r\n') ? 0 : part.indexOf('\r\n\r\n');
  if (split < 0) return null;
  const headerBlock = part.slice(0, split + 2);
  const body = part.slice(split + (split === 0 ? 2 : 4));
  const fields = parseHeaderFields(headerBlock);
  const result = rewriteEntity(headerValue(fields, 'content-type'), headerValue(fields, 'content-transfer-encoding'), headerValue(fields, 'content-disposition'), body, rewrite);
  if (!result) return null;
  let header = headerBlock;
  if (result.encoding) {
    const kept = fields.filter((f) => f.name !== 'content-transfer-encoding').map((f) => `${f.text}\r\n`).join('');
    header = `${kept}Content-Transfer-Encoding: ${result.encoding}\r\n`;
  }
  return `${header}\r\n${result.body}`;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** A header value with its RFC 2047 encoded words decoded (charsets Node's TextDecoder knows). */
export function decodeEncodedWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(ENCODED_WORD, (word, charset: string, kind: string, text: string) => {
    try {
      const bytes = kind.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQuotedPrintable(text.replace(/_/g, ' '));
      return new TextDecoder(charset.replace(/\*.*$/, '')).decode(bytes);
    } catch {
      return word;
    }
  });
}
