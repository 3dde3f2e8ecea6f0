import { createHash } from 'node:crypto';
import { compileRaw, composeRaw, type RawSkeleton } from './compose-raw.ts';
import { compileTemplate, renderTemplate, type CompiledTemplate } from '../lib/liquid.ts';
import type { Address } from '../modules/messages/tables.ts';
import type { MessageLinks } from './links.ts';
import { asciiAddress, base64LinesBuffer, encodeTextBody, fold, formatAddress, formatAddressList, headerText, htmlToText } from './mime-encoding.ts';
import { renderSevenBit, sevenBitForm, type SevenBitForm } from './text-part.ts';

/** A message_contents row as the composer needs it. */
export interface ContentInput {
  id: string;
  from_email: string;
  from_name: string | null;
  reply_to: Address | null;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  attachments: unknown[];
  settings: ContentSettings;
  /** A submitted message's own MIME (SMTP submission): sent as written, not composed. */
  raw_mime?: Buffer | null;
}

export interface ContentSettings {
  sandbox?: boolean;
  tracking?: { open?: boolean; click?: boolean };
  liquid?: boolean;
  list_unsubscribe?: boolean;
}

export interface Personalization {
  to?: Address[];
  cc?: Address[];
  subject?: string;
  headers?: Record<string, string>;
  substitutions?: Record<string, string>;
  variables?: Record<string, unknown>;
  custom_args?: Record<string, string>;
}

export interface MessageInput {
  id: string;
  channel: 'trans' | 'bulk';
  to_email: string;
  to_name: string | null;
  personalization: Personalization;
}

interface AttachmentFields {
  filename?: string;
  type?: string;
  disposition?: string;
  content_id?: string;
}
/** An attachment as the API took it (base64 text), in contents stored before message_attachments. */
type InlineAttachment = AttachmentFields & { content: string };
/** An attachment read from message_attachments: its base64 lines, encoded as it was read. */
export type StoredAttachment = AttachmentFields & { encoded: Buffer };
type Attachment = InlineAttachment | StoredAttachment;

/** The parts of a message fixed by its content: built once per content id, filled per recipient. */
export interface CompiledContent {
  id: string;
  settings: ContentSettings;
  fromHeader: string;
  fromEmail: string;
  replyToHeader: string | null;
  customHeaders: Array<[string, string]>;
  subject: string;
  html: string | null;
  text: string | null;
  templates: { subject: CompiledTemplate; html: CompiledTemplate | null; text: CompiledTemplate | null } | null;
  /** The bodies' templates prepared to render straight to 7bit MIME text, where they allow it. */
  sevenBit: { html: SevenBitForm | null; text: SevenBitForm | null };
  /** The body when nothing in it varies by recipient (no Liquid, no tracking); its DKIM hash on first use. */
  staticBody: RenderedBody | null;
  mixedBoundary: string;
  altBoundary: string;
  /** The attachments' MIME parts as pieces, encoded once and shared by every recipient's body (empty: none). */
  attachmentSections: Buffer[];
  /** Submitted content: the message as written, with what the pipeline may change found once. */
  raw?: RawSkeleton;
}

export interface RenderedBody {
  /** Content-Type (and Content-Transfer-Encoding for a single part) header lines. */
  headers: string;
  /**
   * The body as pieces written one after the other, each but the last ending a line or followed by a
   * CRLF piece: an attachment's encoded lines are the content's own Buffer in every recipient's body.
   */
  parts: Buffer[];
  bodyHash?: string;
}

// Headers the composer writes itself; a custom header of the same name is ignored rather than doubled.
const OWN_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'x-md-channel', 'list-unsubscribe', 'list-unsubscribe-post', 'dkim-signature', 'return-path',
]);
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;
const CRLF_BYTES = Buffer.from('\r\n');

function headerLines(headers: Record<string, string> | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!HEADER_NAME.test(name) || OWN_HEADERS.has(name.toLowerCase()) || typeof value !== 'string') continue;
    out.push([name, headerText(value)]);
  }
  return out;
}

function boundaryFor(contentId: string, kind: string): string {
  return `=_md_${kind}_${createHash('sha256').update(contentId).digest('hex').slice(0, 24)}`;
}

function attachmentSections(attachments: unknown[], boundary: string): Buffer[] {
  const pieces: Buffer[] = [];
  for (const raw of attachments as Attachment[]) {
    const type = (raw.type || 'application/octet-stream').replace(/[^\w.+/-]/g, '');
    const filename = (raw.filename || 'attachment').replace(/[\r\n"\\]/g, '_');
    const name = /^[\x20-\x7e]*$/.test(filename) ? `"${filename}"` : `"${headerText(filename)}"`;
    const disposition = raw.disposition === 'inline' ? 'inline' : 'attachment';
    let head = `--${boundary}\r\nContent-Type: ${type}; name=${name}\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: ${disposition}; filename=${name}\r\n`;
    if (raw.content_id) head += `Content-ID: <${raw.content_id.replace(/[<>\r\n]/g, '')}>\r\n`;
    pieces.push(Buffer.from(`${head}\r\n`, 'latin1'), 'encoded' in raw ? raw.encoded : base64LinesBuffer(raw.content), CRLF_BYTES);
  }
  return pieces;
}

export function compileContent(content: ContentInput): CompiledContent {
  if (content.raw_mime) return compileRaw({ ...content, raw_mime: content.raw_mime });
  const settings = content.settings ?? {};
  const templates = settings.liquid
    ? {
        subject: compileTemplate(content.subject, 'subject'),
        html: content.html === null ? null : compileTemplate(content.html, 'html'),
        text: content.text === null ? null : compileTemplate(content.text, 'text'),
      }
    : null;
  const compiled: CompiledContent = {
    id: content.id,
    settings,
    fromHeader: formatAddress({ email: content.from_email, name: content.from_name }),
    fromEmail: content.from_email,
    replyToHeader: content.reply_to?.email ? formatAddress(content.reply_to) : null,
    customHeaders: headerLines(content.headers),
    subject: content.subject,
    html: content.html,
    text: content.text,
    templates,
    sevenBit: { html: sevenBitForm(templates?.html ?? null), text: sevenBitForm(templates?.text ?? null) },
    staticBody: null,
    mixedBoundary: boundaryFor(content.id, 'm'),
    altBoundary: boundaryFor(content.id, 'a'),
    attachmentSections: attachmentSections(content.attachments ?? [], boundaryFor(content.id, 'm')),
  };
  const tracking = settings.tracking ?? {};
  if (!templates && !tracking.open && !tracking.click) compiled.staticBody = buildBody(compiled, content.html, content.text);
  return compiled;
}

/** Which bodies are already 7bit text with CRLF line ends (renderSevenBit), to be sent as they are. */
interface Encoded {
  html?: boolean;
  text?: boolean;
}

/** The part's transfer encoding and body: as it is when already 7bit CRLF text. */
function transferEncoded(text: string, ready: boolean): { encoding: string; body: string } {
  return ready ? { encoding: '7bit', body: text } : encodeTextBody(text);
}

function textPart(contentType: string, text: string, ready: boolean): string {
  const { encoding, body } = transferEncoded(text, ready);
  return `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${body}\r\n`;
}

/** The MIME tree: text and HTML as multipart/alternative, inside multipart/mixed when there are attachments. */
export function buildBody(content: CompiledContent, html: string | null, text: string | null, encoded: Encoded = {}): RenderedBody {
  const plain = text ?? (html !== null ? htmlToText(html) : '');
  const plainEncoded = text !== null && encoded.text === true;
  let headers: string;
  let body: string;
  if (html === null) {
    const { encoding, body: encoded } = transferEncoded(plain, plainEncoded);
    headers = `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}\r\n`;
    body = `${encoded}\r\n`;
  } else {
    const alt = content.altBoundary;
    headers = `Content-Type: multipart/alternative;\r\n boundary="${alt}"\r\n`;
    body = `--${alt}\r\n${textPart('text/plain', plain, plainEncoded)}--${alt}\r\n${textPart('text/html', html, encoded.html === true)}--${alt}--\r\n`;
  }
  if (content.attachmentSections.length) {
    const mixed = content.mixedBoundary;
    const parts = [Buffer.from(`--${mixed}\r\n${headers}\r\n${body}`, 'latin1'), ...content.attachmentSections, Buffer.from(`--${mixed}--\r\n`, 'latin1')];
    return { headers: `Content-Type: multipart/mixed;\r\n boundary="${mixed}"\r\n`, parts };
  }
  return { headers, parts: [Buffer.from(body, 'latin1')] };
}

function substitute(text: string, substitutions: Record<string, string> | undefined): string {
  if (!substitutions) return text;
  let out = text;
  for (const [key, value] of Object.entries(substitutions)) if (key) out = out.split(key).join(String(value));
  return out;
}

function escapeAttribute(url: string): string {
  return url.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
}

/** Rewrites http(s) links of an HTML body through the click tracker (unsubscribe links stay direct). */
export function rewriteLinks(html: string, rewrite: (url: string) => string | null): string {
  return html.replace(/(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?:\/\/[^"']+)\2/gi, (match, prefix: string, quote: string, url: string) => {
    const target = url.replace(/&amp;/g, '&');
    const replaced = rewrite(target);
    return replaced ? `${prefix}${quote}${escapeAttribute(replaced)}${quote}` : match;
  });
}

export function addOpenPixel(html: string, pixelUrl: string): string {
  const img = `<img src="${escapeAttribute(pixelUrl)}" width="1" height="1" alt="" style="display:none">`;
  const close = html.search(/<\/body\s*>/i);
  return close >= 0 ? `${html.slice(0, close)}${img}${html.slice(close)}` : `${html}${img}`;
}

export interface ComposeOptions {
  hostname: string;
  links?: MessageLinks;
  date: string;
}

export interface ComposedMessage {
  /** Header block without the DKIM signature, each line ending in CRLF. */
  headers: string;
  body: RenderedBody;
}

/** Fills a compiled content for one recipient: headers, and the body (shared when static). */
export function composeMessage(content: CompiledContent, message: MessageInput, options: ComposeOptions): ComposedMessage {
  if (content.raw) return composeRaw(content, content.raw, message, options);
  const p = message.personalization ?? {};
  const { settings } = content;
  const unsubscribeUrl = settings.list_unsubscribe || content.templates ? options.links?.unsubscribeUrl(message.id) : undefined;
  let subject = p.subject ?? content.subject;
  let body = content.staticBody;
  const substitutes = !!p.substitutions && Object.keys(p.substitutions).length > 0;
  if (content.templates) {
    const variables = { ...(p.variables ?? {}), ...(unsubscribeUrl ? { unsubscribe_url: unsubscribeUrl } : {}) };
    if (p.subject === undefined) subject = renderTemplate(content.templates.subject, variables, { html: false });
    // Bodies that nothing rewrites after rendering can come out of the template ready for the wire.
    const tracking = settings.tracking ?? {};
    const direct = !tracking.click && !tracking.open && !substitutes;
    const html7 = direct && content.sevenBit.html ? renderSevenBit(content.sevenBit.html, variables, true) : undefined;
    const text7 = direct && content.sevenBit.text ? renderSevenBit(content.sevenBit.text, variables, false) : undefined;
    const html = html7 ?? (content.templates.html ? renderTemplate(content.templates.html, variables, { html: true }) : null);
    const text = text7 ?? (content.templates.text ? renderTemplate(content.templates.text, variables, { html: false }) : null);
    body = personalBody(content, message, options, html, text, { html: html7 !== undefined, text: text7 !== undefined });
  } else if (!body || substitutes) {
    body = personalBody(content, message, options, content.html, content.text);
  }
  subject = substitute(subject, p.substitutions);

  const to = p.to?.length ? formatAddressList(p.to) : formatAddress({ email: message.to_email, name: message.to_name });
  let headers = `From: ${content.fromHeader}\r\nTo: ${to}\r\n`;
  if (p.cc?.length) headers += `Cc: ${formatAddressList(p.cc)}\r\n`;
  if (content.replyToHeader) headers += `Reply-To: ${content.replyToHeader}\r\n`;
  headers += `Subject: ${headerText(subject)}\r\nDate: ${options.date}\r\nMessage-ID: <${message.id}@${options.hostname}>\r\nMIME-Version: 1.0\r\n${body.headers}X-Md-Channel: ${message.channel}\r\n`;
  if (settings.list_unsubscribe && options.links && unsubscribeUrl) {
    headers += `List-Unsubscribe: ${fold(`<${unsubscribeUrl}>, <${options.links.unsubscribeMailto(message.id)}>`, 18)}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n`;
  }
  for (const [name, value] of content.customHeaders) headers += `${name}: ${value}\r\n`;
  for (const [name, value] of headerLines(p.headers)) headers += `${name}: ${value}\r\n`;
  return { headers, body };
}

function personalBody(content: CompiledContent, message: MessageInput, options: ComposeOptions, html: string | null, text: string | null, encoded: Encoded = {}): RenderedBody {
  const p = message.personalization ?? {};
  let h = html === null ? null : substitute(html, p.substitutions);
  const t = text === null ? null : substitute(text, p.substitutions);
  const tracking = content.settings.tracking ?? {};
  const links = options.links;
  if (h !== null && links) {
    const unsubscribe = links.unsubscribeUrl(message.id);
    if (tracking.click) h = rewriteLinks(h, (url) => (url === unsubscribe ? null : links.clickUrl(message.id, url)));
    if (tracking.open) h = addOpenPixel(h, links.openPixelUrl(message.id));
  }
  return buildBody(content, h, t, encoded);
}

/**
 * The unsigned VERP return path `b-<message id>@…` that MailerDash wrote before return paths were
 * signed (and still writes when no link signer is given). The inbound listener accepts it, but
 * matches a report to it only when the enclosed original's Message-ID names the same message:
 * the address alone carries no authority. Signed return paths: MessageLinks.returnPath.
 */
export function verpAddress(messageId: string, bounceDomain: string): string {
  return asciiAddress(`b-${messageId}@${bounceDomain}`);
}
