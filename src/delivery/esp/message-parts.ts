import { createHash } from 'node:crypto';
import type { AddressObject } from 'mailparser';
import type { SendResult } from '../smtp-outcome.ts';
import type { OutgoingMessage } from '../transport.ts';
import { rejected } from './results.ts';

/**
 * Our prepared messages are complete MIME. Providers whose send API takes JSON or form fields
 * (SendGrid, Mailgun batches, Postmark) get the message taken apart again: addresses, subject,
 * the text and HTML parts, attachments and the headers they let us set. What a recipient sees
 * stays ours; the provider re-encodes the MIME (so our DKIM signature gives way to theirs).
 */
export interface MessageParts {
  from: { address: string; name: string };
  replyTo: string | null;
  cc: string[];
  subject: string;
  text: string | null;
  html: string | null;
  attachments: Array<{ filename: string; contentType: string; content: Buffer; contentId: string | null; inline: boolean }>;
  /** Headers identical for every recipient of a send (custom headers, List-Unsubscribe-Post, X-Md-Channel). */
  sharedHeaders: Record<string, string>;
  /** Headers particular to this message: List-Unsubscribe carries its recipient's token. */
  ownHeaders: Record<string, string>;
  /** Equal for two messages exactly when everything but the recipient and its own headers is equal. */
  contentKey: string;
}

/** Headers the providers write themselves or that the parts above already carry. */
const NOT_PASSED = new Set([
  'from', 'to', 'cc', 'bcc', 'subject', 'reply-to', 'date', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'dkim-signature', 'return-path', 'received', 'sender',
]);
const OWN = new Set(['list-unsubscribe']);

function firstAddress(value: AddressObject | AddressObject[] | undefined): { address: string; name: string } | null {
  const object = Array.isArray(value) ? value[0] : value;
  const first = object?.value[0];
  return first?.address ? { address: first.address, name: first.name ?? '' } : null;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const objects = Array.isArray(value) ? value : value ? [value] : [];
  return objects.flatMap((o) => o.value.map((a) => a.address).filter((a): a is string => Boolean(a)));
}

export async function messageParts(message: OutgoingMessage): Promise<MessageParts> {
  // Loaded on first use: only processes sending through SendGrid, Mailgun or Postmark take MIME apart.
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(message.raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true });
  const sharedHeaders: Record<string, string> = {};
  const ownHeaders: Record<string, string> = {};
  for (const line of parsed.headerLines) {
    if (NOT_PASSED.has(line.key)) continue;
    const value = line.line.slice(line.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
    const name = line.line.slice(0, line.line.indexOf(':')).trim();
    (OWN.has(line.key) ? ownHeaders : sharedHeaders)[name] = value;
  }
  const attachments = parsed.attachments.map((a) => ({
    filename: a.filename ?? 'attachment',
    contentType: a.contentType,
    content: a.content,
    contentId: a.cid ?? null,
    inline: a.contentDisposition === 'inline',
  }));
  const parts = {
    from: firstAddress(parsed.from) ?? { address: message.envelopeFrom, name: '' },
    replyTo: addresses(parsed.replyTo)[0] ?? null,
    cc: addresses(parsed.cc),
    subject: parsed.subject ?? '',
    text: parsed.text ?? null,
    html: typeof parsed.html === 'string' ? parsed.html : null,
    attachments,
    sharedHeaders,
    ownHeaders,
  };
  const digest = createHash('sha256').update(
    JSON.stringify([parts.from, parts.replyTo, parts.cc, parts.subject, parts.text, parts.html, sharedHeaders, attachments.map((a) => [a.filename, a.contentType, a.contentId, a.inline, createHash('sha256').update(a.content).digest('hex')])]),
  );
  return { ...parts, contentKey: digest.digest('base64url') };
}

/** Messages grouped by equal content, each group in first-seen order, keeping every message's index. */
export function groupByContent<T extends { parts: MessageParts }>(items: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.parts.contentKey);
    if (group) group.push(item);
    else groups.set(item.parts.contentKey, [item]);
  }
  return [...groups.values()];
}

/** A message of a batch with its parts and its place in the batch's results. */
export interface PartedMessage {
  index: number;
  message: OutgoingMessage;
  parts: MessageParts;
}

/** Takes every message apart; one that cannot be read back is refused in `results` and left out. */
export async function partedMessages(provider: string, messages: OutgoingMessage[], results: SendResult[]): Promise<PartedMessage[]> {
  const items: PartedMessage[] = [];
  for (const [index, message] of messages.entries()) {
    try {
      items.push({ index, message, parts: await messageParts(message) });
    } catch (error) {
      results[index] = rejected(`${provider}: the message could not be read back: ${(error as Error).message}`);
    }
  }
  return items;
}
