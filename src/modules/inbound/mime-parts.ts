/**
 * A small MIME splitter for reports. mailparser folds message/delivery-status and
 * message/feedback-report into text and drops their structure, so reports are split here: headers
 * unfolded, multiparts split on their boundary, transfer encodings and charsets decoded.
 * Lenient on purpose: bounce mails from old MTAs are often not quite MIME.
 */

export type Headers = Array<[name: string, value: string]>;

export interface MimePart {
  headers: Headers;
  /** Lower-cased `type/subtype` (text/plain when absent). */
  type: string;
  params: Record<string, string>;
  /** The decoded body as text. */
  text: string;
  parts: MimePart[];
}

const MAX_DEPTH = 8;

export function header(headers: Headers, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return headers.find(([n]) => n === wanted)?.[1];
}

/** Splits a header block into unfolded `[lower-cased name, value]` fields. */
export function parseHeaderBlock(block: string): Headers {
  const fields: Headers = [];
  for (const line of block.split('\n')) {
    const name = /^([!-9;-~]+)[ \t]*:/.exec(line);
    // A line that is no field continues the previous one (folded, or broken by a careless MTA).
    if ((/^[ \t]/.test(line) || !name) && fields.length) fields[fields.length - 1]![1] += ` ${line.trim()}`;
    else if (name) fields.push([name[1]!.toLowerCase(), line.slice(name[0].length).trim()]);
  }
  return fields;
}

function splitHead(text: string): { head: string; body: string } {
  const end = text.indexOf('\n\n');
  if (end < 0) return { head: text, body: '' };
  return { head: text.slice(0, end), body: text.slice(end + 2) };
}

function parseContentType(value: string | undefined): { type: string; params: Record<string, string> } {
  if (!value) return { type: 'text/plain', params: {} };
  const [type, ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const m of rest.join(';').matchAll(/([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/g)) params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return { type: (type ?? 'text/plain').trim().toLowerCase() || 'text/plain', params };
}

function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').toLowerCase();
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

function decodeTransfer(body: string, encoding: string | undefined): Buffer {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    const unwrapped = body.replace(/=\n/g, '');
    return Buffer.from(unwrapped.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  }
  return Buffer.from(body, 'latin1');
}

/** Decodes RFC 2047 encoded words (`=?utf-8?B?…?=`), e.g. in a Subject. */
export function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=(\s+(?==\?))?/g, (_, charset: string, mode: string, data: string) => {
    const bytes = mode.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : decodeTransfer(data.replace(/_/g, ' '), 'quoted-printable');
    return decodeCharset(bytes, charset);
  });
}

function parsePart(text: string, depth: number): MimePart {
  const { head, body } = splitHead(text);
  const headers = parseHeaderBlock(head);
  const { type, params } = parseContentType(header(headers, 'content-type'));
  const part: MimePart = { headers, type, params, text: '', parts: [] };
  if (depth < MAX_DEPTH && type.startsWith('multipart/') && params.boundary) {
    part.parts = splitMultipart(body, params.boundary).map((p) => parsePart(p, depth + 1));
    // A multipart without any delimiter is plain text in all but name.
    if (!part.parts.length) part.text = body;
  } else if (depth < MAX_DEPTH && (type === 'message/rfc822' || type === 'message/global')) {
    const inner = decodeTransfer(body, header(headers, 'content-transfer-encoding')).toString('latin1');
    part.parts = [parsePart(inner, depth + 1)];
    part.text = inner;
  } else {
    const bytes = decodeTransfer(body, header(headers, 'content-transfer-encoding'));
    part.text = type.startsWith('text/') || type.startsWith('message/') ? decodeCharset(bytes, params.charset) : '';
  }
  return part;
}

function splitMultipart(body: string, declared: string): string[] {
  // Hand-edited or broken mails declare one boundary and use another: then the first delimiter line is it.
  const lines = body.split('\n');
  const boundary = lines.some((l) => l.trimEnd() === `--${declared}`) ? declared : (lines.map((l) => /^--(\S{6,})\s*$/.exec(l)?.[1]).find(Boolean) ?? declared);
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of lines) {
    const trimmed = line.trimEnd();
    if (trimmed === `${delimiter}--`) {
      if (current) parts.push(current.join('\n'));
      return parts;
    }
    if (trimmed === delimiter) {
      if (current) parts.push(current.join('\n'));
      current = [];
    } else current?.push(line);
  }
  if (current) parts.push(current.join('\n'));
  return parts;
}

/** The whole mail as a part tree (line ends normalised to LF). */
export function parseMime(raw: Buffer | string): MimePart {
  const text = (typeof raw === 'string' ? raw : raw.toString('latin1')).replace(/\r\n?/g, '\n');
  return parsePart(text, 0);
}

/** Every part of the tree, depth first (the root included). */
export function allParts(root: MimePart): MimePart[] {
  const out: MimePart[] = [];
  const walk = (p: MimePart) => {
    out.push(p);
    p.parts.forEach(walk);
  };
  walk(root);
  return out;
}
