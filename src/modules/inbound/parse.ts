import { allParts, decodeWords, header, parseHeaderBlock, parseMime, type Headers, type MimePart } from './mime-parts.ts';

/**
 * Reads what a report mail says, without judging it: the DSN's per-recipient blocks (RFC 3464),
 * the ARF fields (RFC 5965), the enclosed original's headers, and the human-readable text of
 * bounces that have no delivery-status part. Classification is ./classify.ts's.
 */

export interface RecipientBlock {
  action: string | null;
  status: string | null;
  finalRecipient: string | null;
  originalRecipient: string | null;
  diagnostic: string | null;
  remoteMta: string | null;
}

export interface FeedbackFields {
  feedbackType: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string | null;
  arrivalDate: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  reportedDomain: string | null;
}

export interface ParsedReport {
  subject: string;
  from: string;
  headers: Headers;
  /** multipart/report with message/delivery-status, or delivery-status fields found in a text part. */
  dsn: { reportingMta: string | null; recipients: RecipientBlock[] } | null;
  arf: FeedbackFields | null;
  /** Headers of the enclosed original (message/rfc822 or text/rfc822-headers), when present. */
  original: Headers | null;
  /** The human-readable text (first text parts, at most 16 KB). */
  text: string;
}

const TEXT_LIMIT = 16_384;

/** Splits a delivery-status body into its field groups (per-message first, then one per recipient). */
function fieldGroups(text: string): Headers[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((block) => parseHeaderBlock(block.trim()))
    .filter((group) => group.length > 0);
}

const stripType = (value: string | undefined) => (value ? value.replace(/^[\w-]+\s*;\s*/, '').replace(/^<|>$/g, '').trim() : null);

function recipientBlock(group: Headers): RecipientBlock | null {
  const finalRecipient = stripType(header(group, 'final-recipient'));
  const originalRecipient = stripType(header(group, 'original-recipient'));
  const action = header(group, 'action')?.trim().toLowerCase() ?? null;
  if (!finalRecipient && !originalRecipient && !action) return null;
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(header(group, 'status') ?? '')?.[1] ?? null;
  return { action, status, finalRecipient, originalRecipient, diagnostic: header(group, 'diagnostic-code') ?? null, remoteMta: stripType(header(group, 'remote-mta')) };
}

function parseDsn(text: string): ParsedReport['dsn'] {
  const groups = fieldGroups(text);
  const recipients = groups.map(recipientBlock).filter((r): r is RecipientBlock => r !== null);
  if (!recipients.length) return null;
  const reportingMta = groups.map((g) => stripType(header(g, 'reporting-mta'))).find(Boolean) ?? null;
  return { reportingMta, recipients };
}

function parseArf(text: string): FeedbackFields {
  const fields = fieldGroups(text).flat();
  const get = (name: string) => fields.find(([n]) => n === name)?.[1]?.trim() ?? null;
  return {
    feedbackType: get('feedback-type')?.toLowerCase() ?? null,
    originalMailFrom: get('original-mail-from')?.replace(/^<|>$/g, '') ?? null,
    originalRcptTo: get('original-rcpt-to')?.replace(/^<|>$/g, '') ?? null,
    arrivalDate: get('arrival-date') ?? get('received-date'),
    sourceIp: get('source-ip'),
    userAgent: get('user-agent'),
    reportedDomain: get('reported-domain'),
  };
}

function originalHeaders(parts: MimePart[]): Headers | null {
  for (const part of parts) {
    if ((part.type === 'message/rfc822' || part.type === 'message/global') && part.parts[0]) return part.parts[0].headers;
    if (part.type === 'text/rfc822-headers' || part.type === 'message/rfc822-headers') return parseHeaderBlock(part.text.replace(/\r\n?/g, '\n').trim());
  }
  return null;
}

/** An original that was pasted into the text (no rfc822 part): its Message-ID line. */
function pastedOriginal(text: string): Headers | null {
  const id = /^\s*Message-ID:\s*(<[^>\s]+>)/im.exec(text);
  return id ? [['message-id', id[1]!]] : null;
}

export function parseReport(raw: Buffer | string): ParsedReport {
  const root = parseMime(raw);
  const parts = allParts(root);
  // The report's own parts, not those of an enclosed original.
  const own = parts.filter((p) => !isInsideOriginal(root, p));
  const status = own.find((p) => p.type === 'message/delivery-status' || p.type === 'message/global-delivery-status');
  const feedback = own.find((p) => p.type === 'message/feedback-report');
  const textParts = own.filter((p) => p.type === 'text/plain' || (p.type === 'text/html' && !own.some((q) => q.type === 'text/plain')));
  let text = textParts.map((p) => (p.type === 'text/html' ? p.text.replace(/<[^>]+>/g, ' ') : p.text)).join('\n').slice(0, TEXT_LIMIT);
  // A body without any MIME structure (old MTAs): the root's text is the body.
  if (!text && root.parts.length === 0) text = root.text.slice(0, TEXT_LIMIT);
  let dsn = status ? parseDsn(status.text) : null;
  // Some MTAs put the delivery-status fields into a text part, or send them without MIME at all.
  if (!dsn && /^\s*(Final-Recipient|Original-Recipient)\s*:/im.test(text)) dsn = parseDsn(text);
  const original = originalHeaders(own) ?? pastedOriginal(parts.filter((p) => p.type.startsWith('text/')).map((p) => p.text).join('\n'));
  return {
    subject: decodeWords(header(root.headers, 'subject') ?? ''),
    from: decodeWords(header(root.headers, 'from') ?? ''),
    headers: root.headers,
    dsn,
    arf: feedback ? parseArf(feedback.text) : null,
    original,
    text,
  };
}

function isInsideOriginal(root: MimePart, target: MimePart): boolean {
  const walk = (p: MimePart, inside: boolean): boolean | null => {
    if (p === target) return inside;
    for (const child of p.parts) {
      const found = walk(child, inside || p.type === 'message/rfc822' || p.type === 'message/global');
      if (found !== null) return found;
    }
    return null;
  };
  return walk(root, false) ?? false;
}
