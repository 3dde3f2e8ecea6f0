import type { ErrorDetail } from '../../errors.ts';
import { isDisposableDomain } from '../../lib/disposable-domains.ts';
import { addressKey, checkAddress, type ParsedAddress } from '../../lib/email-address.ts';
import type { AddressT, SendBodyT } from './schemas.ts';

export const MAX_RECIPIENTS = 1000;
export const MAX_SCHEDULE_AHEAD_S = 72 * 3600;
const MAX_ARGS_BYTES = 10_000;

/** Headers the platform writes itself; a caller setting them would break or forge the message. */
const RESERVED_HEADERS = new Set([
  'to', 'from', 'cc', 'bcc', 'subject', 'reply-to', 'sender', 'date', 'message-id', 'mime-version',
  'content-type', 'content-transfer-encoding', 'content-disposition', 'return-path', 'received',
  'dkim-signature', 'x-sg-id', 'x-sg-eid',
]);
const HEADER_NAME = /^[!-9;-~]{1,76}$/;

/** One copy to one envelope recipient, as the messages row will hold it. */
export interface PlannedCopy {
  field: string;
  recipient: ParsedAddress;
  name: string | null;
  personalization: Record<string, unknown>;
  dueAt: Date;
}

export interface SendPlan {
  from: ParsedAddress;
  fromName: string | null;
  replyTo: AddressT | null;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  attachments: Array<{ content: string; filename: string; type: string | null; disposition: 'attachment' | 'inline'; content_id: string | null }>;
  categories: string[];
  settings: Record<string, unknown>;
  copies: PlannedCopy[];
  sandbox: boolean;
}

/** A stored template standing in for subject and content. */
export interface TemplateParts {
  subject: string;
  html: string | null;
  text: string | null;
}

const detail = (field: string, code: string, message: string): ErrorDetail => ({ field, code, message });

/** The same rule as the send schema's one-line fields (subject, names, header values). */
const LINE_BREAK = /[\r\n]/;

/**
 * The fields of `values` named in `fields` whose string holds a CR or LF. They end up in a message
 * header (subject, From name, Reply-To), where a line break would start a header of its own.
 */
export function lineBreakErrors(values: unknown, fields: readonly string[]): ErrorDetail[] {
  if (typeof values !== 'object' || values === null) return [];
  const errors: ErrorDetail[] = [];
  for (const field of fields) {
    const value = (values as Record<string, unknown>)[field];
    if (typeof value === 'string' && LINE_BREAK.test(value)) {
      errors.push(detail(field, 'invalid_header_value', `${field} cannot contain a line break (CR or LF): it is written into a mail header`));
    }
  }
  return errors;
}

function checkHeaders(headers: Record<string, string> | undefined, field: string, errors: ErrorDetail[]): void {
  for (const name of Object.keys(headers ?? {})) {
    if (!HEADER_NAME.test(name)) errors.push(detail(`${field}.${name}`, 'invalid_header', `"${name}" is not a valid header name`));
    else if (RESERVED_HEADERS.has(name.toLowerCase())) errors.push(detail(`${field}.${name}`, 'reserved_header', `the ${name} header is set by MailerDash and cannot be given`));
  }
}

function checkArgsSize(args: Record<string, string> | undefined, field: string, errors: ErrorDetail[]): void {
  if (args && Buffer.byteLength(JSON.stringify(args)) > MAX_ARGS_BYTES) {
    errors.push(detail(field, 'too_large', `${field} must be at most ${MAX_ARGS_BYTES} bytes`));
  }
}

function dueAt(sendAt: number | undefined, now: Date, field: string, errors: ErrorDetail[]): Date {
  if (sendAt === undefined) return now;
  const nowS = now.getTime() / 1000;
  if (sendAt > nowS + MAX_SCHEDULE_AHEAD_S) {
    errors.push(detail(field, 'send_at_too_far', `${field} may be at most 72 hours ahead`));
  }
  return sendAt * 1000 > now.getTime() ? new Date(sendAt * 1000) : now;
}

/** What an attachment's content must be: base64 characters and line breaks, at most two `=` at the end. */
export const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/;

const clean = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const nonEmpty = (o: Record<string, unknown> | undefined) => (o && Object.keys(o).length ? o : undefined);

/**
 * Everything about a send request that needs no I/O: limits, duplicates, headers, and the first two
 * validation layers (syntax, disposable domains) of every address. Returns every problem found, each
 * naming its field; the copies (one per to/cc/bcc address that passed) for the MX layer; and the whole
 * plan when nothing is wrong.
 */
export function planSend(body: SendBodyT, now: Date, template: TemplateParts | null = null): { errors: ErrorDetail[]; plan: SendPlan | null; copies: PlannedCopy[] } {
  const errors: ErrorDetail[] = [];
  const total = body.personalizations.reduce((n, p) => n + p.to.length + (p.cc?.length ?? 0) + (p.bcc?.length ?? 0), 0);
  if (total > MAX_RECIPIENTS) {
    return { errors: [detail('personalizations', 'too_many_recipients', `a request may have at most ${MAX_RECIPIENTS} recipients in total (to, cc and bcc); it has ${total}`)], plan: null, copies: [] };
  }

  const from = checkAddress(body.from.email);
  if (!from.ok) errors.push(detail('from.email', 'invalid_email', `from.email ${from.reason}`));
  if (body.reply_to) {
    const replyTo = checkAddress(body.reply_to.email);
    if (!replyTo.ok) errors.push(detail('reply_to.email', 'invalid_email', `reply_to.email ${replyTo.reason}`));
  }

  let html: string | null = template?.html ?? null;
  let text: string | null = template?.text ?? null;
  if (body.content && template) errors.push(detail('content', 'conflicting_fields', 'give either content or template_id, not both'));
  if (!body.content && !template) errors.push(detail('content', 'required', 'content is required (or a template_id)'));
  (body.content ?? []).forEach((part, i) => {
    const field = `content.${i}.type`;
    if (part.type === 'text/html' && html === null) html = part.value;
    else if (part.type === 'text/plain' && text === null) text = part.value;
    else if (part.type === 'text/html' || part.type === 'text/plain') errors.push(detail(field, 'duplicate_content', `only one ${part.type} part is accepted`));
    else errors.push(detail(field, 'unsupported_content_type', `content type "${part.type}" is not supported; use text/plain or text/html`));
  });

  checkHeaders(body.headers, 'headers', errors);
  checkArgsSize(body.custom_args, 'custom_args', errors);
  const topDue = dueAt(body.send_at, now, 'send_at', errors);

  (body.attachments ?? []).forEach((a, i) => {
    if (!BASE64.test(a.content)) errors.push(detail(`attachments.${i}.content`, 'invalid_base64', `attachments.${i}.content must be base64`));
    if (a.disposition === 'inline' && !a.content_id) errors.push(detail(`attachments.${i}.content_id`, 'required', 'an inline attachment needs a content_id'));
  });

  const copies: PlannedCopy[] = [];
  body.personalizations.forEach((p, pi) => {
    const base = `personalizations.${pi}`;
    if (p.subject === undefined && body.subject === undefined && !template) {
      errors.push(detail('subject', 'required', `subject is required (at the top level or in ${base})`));
    }
    checkHeaders(p.headers, `${base}.headers`, errors);
    checkArgsSize(p.substitutions, `${base}.substitutions`, errors);
    checkArgsSize(p.custom_args, `${base}.custom_args`, errors);
    const due = p.send_at === undefined ? topDue : dueAt(p.send_at, now, `${base}.send_at`, errors);
    const personalization = clean({
      to: p.to.map((a) => clean({ email: a.email, name: a.name })),
      cc: p.cc?.length ? p.cc.map((a) => clean({ email: a.email, name: a.name })) : undefined,
      subject: p.subject,
      headers: nonEmpty(p.headers),
      substitutions: nonEmpty(p.substitutions),
      variables: p.dynamic_template_data,
      custom_args: nonEmpty(p.custom_args),
    });
    const seen = new Map<string, string>();
    for (const role of ['to', 'cc', 'bcc'] as const) {
      (p[role] ?? []).forEach((address, ai) => {
        const field = `${base}.${role}.${ai}.email`;
        const checked = checkAddress(address.email);
        if (!checked.ok) {
          errors.push(detail(field, 'invalid_email', `${field} ${checked.reason}`));
          return;
        }
        if (isDisposableDomain(checked.value.domain)) {
          errors.push(detail(field, 'disposable_domain', `${field}: ${checked.value.domain} is a disposable email domain`));
          return;
        }
        const key = addressKey(checked.value);
        const first = seen.get(key);
        if (first) {
          errors.push(detail(field, 'duplicate_recipient', `${field} repeats ${first}; an address may appear once across to, cc and bcc`));
          return;
        }
        seen.set(key, field);
        copies.push({ field, recipient: checked.value, name: address.name ?? null, personalization, dueAt: due });
      });
    }
  });

  if (errors.length || !from.ok) return { errors, plan: null, copies };
  const tracking = body.tracking_settings
    ? clean({ open: body.tracking_settings.open_tracking?.enable, click: body.tracking_settings.click_tracking?.enable })
    : undefined;
  const liquid = template !== null || body.personalizations.some((p) => p.dynamic_template_data !== undefined) || undefined;
  return {
    errors,
    copies,
    plan: {
      from: from.value,
      fromName: body.from.name ?? null,
      replyTo: body.reply_to ? clean({ email: body.reply_to.email, name: body.reply_to.name }) : null,
      subject: body.subject ?? template?.subject ?? '',
      html,
      text,
      headers: body.headers ?? {},
      attachments: (body.attachments ?? []).map((a) => ({
        content: a.content,
        filename: a.filename,
        type: a.type ?? null,
        disposition: a.disposition ?? 'attachment',
        content_id: a.content_id ?? null,
      })),
      categories: body.categories ?? [],
      settings: clean({ tracking: tracking && nonEmpty(tracking), liquid, custom_args: nonEmpty(body.custom_args) }),
      copies,
      sandbox: body.mail_settings?.sandbox_mode?.enable === true,
    },
  };
}
