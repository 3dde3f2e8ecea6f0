import { domainToASCII } from 'node:url';

/** Encodings of RFC 2045-2047: the building blocks of every message we compose. */

const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;
const CRLF = '\r\n';

/** Every line break as CRLF. */
export function toCrlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, CRLF);
}

const HEX = '0123456789ABCDEF';

/** Quoted-printable (RFC 2045 6.7) of UTF-8 text, soft-wrapped at 76 characters. */
export function quotedPrintable(text: string): string {
  const lines = toCrlf(text).split(CRLF);
  const out: string[] = [];
  for (const line of lines) {
    const bytes = Buffer.from(line, 'utf8');
    let current = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      const last = i === bytes.length - 1;
      let piece: string;
      if ((b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last)) piece = String.fromCharCode(b);
      else piece = `=${HEX[b >> 4]}${HEX[b & 15]}`;
      if (current.length + piece.length > 75) {
        out.push(`${current}=`);
        current = '';
      }
      current += piece;
    }
    out.push(current);
  }
  return out.join(CRLF);
}

/** Base64 in lines of 76 characters. */
/**
 * Base64 text (already encoded, as an API attachment arrives) in lines of 76, written straight into one
 * Buffer: a 20 MB attachment costs the Buffer alone, not a cleaned copy, an array of lines and their join.
 */
export function base64LinesBuffer(encoded: string): Buffer {
  const clean = /\s/.test(encoded) ? encoded.replace(/\s+/g, '') : encoded;
  const lineCount = Math.ceil(clean.length / 76);
  const out = Buffer.allocUnsafe(clean.length + Math.max(0, lineCount - 1) * 2);
  let at = 0;
  for (let i = 0; i < clean.length; i += 76) {
    if (i) at = out.writeUInt16BE(0x0d0a, at);
    at += out.write(clean.slice(i, i + 76), at, 'latin1');
  }
  return out;
}

/** Bytes per base64 line of 76 characters: chunks of a multiple of it end exactly at a line's end. */
export const BASE64_LINE_BYTES = 57;
/** The size of a stored attachment's parts (the last may be shorter): under 1 MB, whole base64 lines. */
export const ATTACHMENT_PART_BYTES = BASE64_LINE_BYTES * 16_384;

/** The size of `bytes` bytes as base64 in lines of 76 joined by CRLF (base64LinesWriter's output). */
export function base64LinesSize(bytes: number): number {
  const chars = Math.ceil(bytes / 3) * 4;
  return chars + Math.max(0, Math.ceil(chars / 76) - 1) * 2;
}

/**
 * Base64 lines of 76 written into one Buffer of base64LinesSize(total) from the encoded pieces of the bytes
 * in order, each as PostgreSQL's encode(…, 'base64') gives it (lines of 76 joined by LF) and each of a multiple of
 * BASE64_LINE_BYTES but the last: a stored attachment is encoded by the database part by part as it is
 * read, never held as bytes, hex or one base64 string.
 */
export function base64LinesWriter(total: number): { write(encoded: string): void; done(): Buffer } {
  const out = Buffer.allocUnsafe(base64LinesSize(total));
  let at = 0;
  return {
    write(encoded) {
      for (let i = 0; i < encoded.length; ) {
        const end = encoded.indexOf('\n', i);
        const stop = end < 0 ? encoded.length : end;
        if (at) at = out.writeUInt16BE(0x0d0a, at);
        at += out.write(encoded.slice(i, stop), at, 'latin1');
        i = stop + 1;
      }
    },
    done() {
      if (at !== out.length) throw new Error(`attachment encoded to ${at} of ${out.length} bytes`);
      return out;
    },
  };
}

export function base64Lines(data: Buffer | string): string {
  const b64 = Buffer.isBuffer(data) ? data.toString('base64') : data.replace(/\s+/g, '');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join(CRLF);
}

// Printable ASCII, tabs and bare LF line ends: what most templates render to.
const SEVEN_BIT_LF = /^[\x09\x20-\x7e\n]*$/;

/** True when no line between LFs is longer than `max` characters. */
function linesWithin(text: string, max: number): boolean {
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if ((end < 0 ? text.length : end) - start > max) return false;
    if (end < 0) return true;
    start = end + 1;
  }
}

/** A text body part's transfer encoding: 7bit when it is plain ASCII with short lines, else quoted-printable. */
export function encodeTextBody(text: string): { encoding: '7bit' | 'quoted-printable'; body: string } {
  // The common case in one scan and one replace, per recipient of a campaign.
  if (SEVEN_BIT_LF.test(text) && linesWithin(text, 998)) return { encoding: '7bit', body: text.replaceAll('\n', CRLF) };
  const normalized = toCrlf(text);
  if (/^[\x09\x0d\x0a\x20-\x7e]*$/.test(normalized) && !normalized.split(CRLF).some((l) => l.length > 998)) {
    return { encoding: '7bit', body: normalized };
  }
  return { encoding: 'quoted-printable', body: quotedPrintable(normalized) };
}

/** RFC 2047 encoded words (B encoding) for non-ASCII header text, split on character boundaries. */
export function encodedWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > 45) {
      words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
      chunk = '';
      bytes = 0;
    }
    chunk += char;
    bytes += size;
  }
  if (chunk) words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
  return words.join(`${CRLF} `);
}

/** Unstructured header text (Subject, custom headers): as is when ASCII, else encoded words; folded. */
export function headerText(value: string): string {
  const clean = value.replace(/[\r\n]+/g, ' ');
  if (ASCII_PRINTABLE.test(clean) && !/\S{900,}/.test(clean)) return fold(clean);
  return encodedWords(clean);
}

/** Folds at spaces so lines stay near 78 characters (never splitting a word). */
export function fold(value: string, firstLineUsed = 12): string {
  if (value.length + firstLineUsed <= 78) return value;
  const words = value.split(' ');
  let line = '';
  let used = firstLineUsed;
  const out: string[] = [];
  for (const word of words) {
    if (line && used + line.length + 1 + word.length > 78) {
      out.push(line);
      line = word;
      used = 1;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(line);
  return out.join(`${CRLF} `);
}

const SPECIALS = /[()<>[\]:;@\\,."]/;

export interface MailAddress {
  email: string;
  name?: string | null;
}

/** The address with its domain in ASCII (IDNA), as headers and the envelope need it. */
export function asciiAddress(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 0) return email;
  const domain = email.slice(at + 1);
  if (/^[\x20-\x7e]*$/.test(domain)) return email;
  return `${email.slice(0, at)}@${domainToASCII(domain) || domain}`;
}

/** `"Name" <email>` (RFC 5322 3.4) with the display name quoted or encoded as needed. */
export function formatAddress(address: MailAddress): string {
  const email = asciiAddress(address.email);
  const name = address.name?.replace(/[\r\n]+/g, ' ').trim();
  if (!name) return email;
  let phrase: string;
  if (!ASCII_PRINTABLE.test(name)) phrase = encodedWords(name);
  else if (SPECIALS.test(name)) phrase = `"${name.replace(/(["\\])/g, '\\$1')}"`;
  else phrase = name;
  return `${phrase} <${email}>`;
}

export function formatAddressList(addresses: MailAddress[]): string {
  return addresses.map(formatAddress).join(`,${CRLF} `);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 date-time in UTC. */
export function formatDate(date: Date): string {
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', hellip: '…', mdash: '—', ndash: '–' };

/**
 * A readable plain-text alternative of an HTML body: block ends become line breaks, links keep
 * their target, tags go, entities are decoded. Good enough for the text part; not a renderer.
 */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head|title)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<a\b[^>]*?href\s*=\s*["']([^"']+)["'][^>]*>([\s\S]*?)<\/a\s*>/gi, (_m, href: string, label: string) => {
      const text = label.replace(/<[^>]+>/g, '').trim();
      return !text || text === href || href.startsWith('mailto:') ? text || href : `${text} (${href})`;
    })
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '\n* ')
    .replace(/<\/(p|div|h[1-6]|tr|table|ul|ol|blockquote|section|article|header|footer)\s*>/gi, '\n\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
        return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/[ \t]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
