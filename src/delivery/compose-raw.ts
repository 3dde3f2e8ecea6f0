import { addOpenPixel, rewriteLinks, type CompiledContent, type ComposedMessage, type ComposeOptions, type ContentInput, type MessageInput, type RenderedBody } from './compose.ts';
import { fold, formatAddressList, headerText } from './mime-encoding.ts';
import { decodeEncodedWords, fieldValue, headerValue, parseHeaderFields, rewriteEntity, splitMessage, type HeaderField, type TextRewrite } from './raw-mime.ts';

/**
 * Submitted content (SMTP submission) keeps the sender's own MIME. Per recipient the pipeline only adds
 * its headers (Message-ID and Date when missing, List-Unsubscribe for bulk), replaces To for a recipient
 * given in X-SMTPAPI `to`, and rewrites text parts for substitutions and tracking; everything else goes
 * out byte for byte, so a static message's body hash is computed once.
 */
export interface RawSkeleton {
  fields: HeaderField[];
  body: Buffer;
  hasMessageId: boolean;
  hasDate: boolean;
  contentType: string | null;
  encoding: string | null;
}

// Never sent as submitted: the relay consumed them, or the pipeline writes its own.
const DROPPED = new Set(['bcc', 'x-smtpapi', 'x-md-channel', 'return-path', 'list-unsubscribe', 'list-unsubscribe-post']);

export function compileRaw(content: ContentInput & { raw_mime: Buffer }): CompiledContent {
  const { header, body } = splitMessage(content.raw_mime);
  const fields = parseHeaderFields(header.toString('utf8')).filter((f) => f.name && !DROPPED.has(f.name));
  const settings = content.settings ?? {};
  const skeleton: RawSkeleton = {
    fields,
    body,
    hasMessageId: fields.some((f) => f.name === 'message-id'),
    hasDate: fields.some((f) => f.name === 'date'),
    contentType: headerValue(fields, 'content-type'),
    encoding: headerValue(fields, 'content-transfer-encoding'),
  };
  const tracking = settings.tracking ?? {};
  return {
    id: content.id,
    settings,
    fromHeader: '',
    fromEmail: content.from_email,
    replyToHeader: null,
    customHeaders: [],
    subject: content.subject,
    html: null,
    text: null,
    templates: null,
    sevenBit: { html: null, text: null },
    staticBody: tracking.open || tracking.click ? null : { headers: '', parts: [body] },
    mixedBoundary: '',
    altBoundary: '',
    attachmentSections: [],
    raw: skeleton,
  };
}

function substitute(text: string, substitutions: Record<string, string>): string {
  let out = text;
  for (const [key, value] of Object.entries(substitutions)) if (key) out = out.split(key).join(String(value));
  return out;
}

export function composeRaw(content: CompiledContent, raw: RawSkeleton, message: MessageInput, options: ComposeOptions): ComposedMessage {
  const p = message.personalization ?? {};
  const substitutions = p.substitutions && Object.keys(p.substitutions).length ? p.substitutions : null;
  const tracking = content.settings.tracking ?? {};
  const links = options.links;
  const unsubscribe = links?.unsubscribeUrl(message.id);

  let body: RenderedBody | null = substitutions ? null : content.staticBody;
  let encoding: string | undefined;
  if (!body) {
    const rewrite: TextRewrite = (text, subtype) => {
      let out = substitutions ? substitute(text, substitutions) : text;
      if (subtype === 'html' && links) {
        if (tracking.click) out = rewriteLinks(out, (url) => (url === unsubscribe ? null : links.clickUrl(message.id, url)));
        if (tracking.open) out = addOpenPixel(out, links.openPixelUrl(message.id));
      }
      return out;
    };
    const rewritten = rewriteEntity(raw.contentType, raw.encoding, null, raw.body.toString('latin1'), rewrite);
    encoding = rewritten?.encoding;
    body = { headers: '', parts: [rewritten ? Buffer.from(rewritten.body, 'latin1') : raw.body] };
  }

  let headers = '';
  if (!raw.hasMessageId) headers += `Message-ID: <${message.id}@${options.hostname}>\r\n`;
  if (!raw.hasDate) headers += `Date: ${options.date}\r\n`;
  for (const field of raw.fields) {
    if (field.name === 'to' && p.to?.length) headers += `To: ${formatAddressList(p.to)}\r\n`;
    else if (field.name === 'subject' && substitutions) headers += `Subject: ${headerText(substitute(decodeEncodedWords(fieldValue(field)), substitutions))}\r\n`;
    else if (field.name === 'content-transfer-encoding' && encoding) headers += `Content-Transfer-Encoding: ${encoding}\r\n`;
    else headers += `${field.text}\r\n`;
  }
  if (encoding && !raw.encoding) headers += `Content-Transfer-Encoding: ${encoding}\r\n`;
  if (p.to?.length && !raw.fields.some((f) => f.name === 'to')) headers += `To: ${formatAddressList(p.to)}\r\n`;
  if (content.settings.list_unsubscribe && links && unsubscribe) {
    headers += `List-Unsubscribe: ${fold(`<${unsubscribe}>, <${links.unsubscribeMailto(message.id)}>`, 18)}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n`;
  }
  return { headers, body };
}
