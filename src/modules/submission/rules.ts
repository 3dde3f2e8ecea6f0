import addressparser from 'nodemailer/lib/addressparser';
import { decodeEncodedWords, fieldValue, headerValue, parseHeaderFields, splitMessage, type HeaderField } from '../../delivery/raw-mime.ts';
import { isDisposableDomain } from '../../lib/disposable-domains.ts';
import { checkAddress, type ParsedAddress } from '../../lib/email-address.ts';
import type { MxVerdict } from '../../lib/mx-rules.ts';
import type { Channel } from '../messages/tables.ts';
import { MAX_RECIPIENTS, MAX_SCHEDULE_AHEAD_S } from '../send/rules.ts';

/** An SMTP reply: code and text (the text begins with its enhanced status code). */
export interface Reply {
  code: number;
  text: string;
}

const MX_PROBLEM: Record<Extract<MxVerdict, { kind: 'undeliverable' }>['reason'], string> = {
  null_mx: 'accepts no mail (null MX, RFC 7505)',
  nxdomain: 'does not exist',
  no_mail_host: 'has no MX and no address record',
};

/** The first two validation layers of /v1/mail/send for one recipient: syntax, then disposable domains. */
export function recipientSyntax(raw: string): { ok: true; value: ParsedAddress } | { ok: false; reply: Reply } {
  const checked = checkAddress(raw);
  if (!checked.ok) return { ok: false, reply: { code: 550, text: `5.1.3 syntax: <${raw}> ${checked.reason}` } };
  if (isDisposableDomain(checked.value.domain)) return { ok: false, reply: { code: 550, text: `5.1.0 disposable: ${checked.value.domain} is a disposable email domain` } };
  return checked;
}

/** The third layer's answer as SMTP: undeliverable is permanent, DNS trouble only temporary (never a 550). */
export function mxReply(domain: string, verdict: MxVerdict): Reply | null {
  if (verdict.kind === 'undeliverable') return { code: 550, text: `5.1.2 mx: ${domain} ${MX_PROBLEM[verdict.reason]}` };
  if (verdict.kind === 'unknown') return { code: 451, text: `4.4.3 mx: the DNS lookup of ${domain} failed (${verdict.code}); try again later` };
  return null;
}

/** What MailerDash reads of SendGrid's X-SMTPAPI header. */
export interface SmtpApi {
  to: Array<{ email: string; name: string | null }>;
  sub: Record<string, string[]>;
  uniqueArgs: Record<string, string>;
  categories: string[];
  sendAt: number | null;
  tracking: { open?: boolean; click?: boolean };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const enabled = (filter: unknown): boolean | undefined => {
  if (!isRecord(filter) || !isRecord(filter.settings)) return undefined;
  const value = filter.settings.enable;
  return value === undefined ? undefined : value === 1 || value === '1' || value === true;
};

/**
 * Parses X-SMTPAPI as far as the matching API fields exist. asm_group_id is refused: /v1/mail/send has
 * no unsubscribe groups (it refuses `asm` too), and silently dropping it would send to people who opted out.
 */
export function parseSmtpApi(value: string): { ok: true; value: SmtpApi } | { ok: false; reply: Reply } {
  const bad = (why: string) => ({ ok: false as const, reply: { code: 550, text: `5.6.0 X-SMTPAPI: ${why}` } });
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return bad('is not valid JSON');
  }
  if (!isRecord(json)) return bad('must be a JSON object');
  if (json.asm_group_id !== undefined) return bad('asm_group_id is not supported (MailerDash has no unsubscribe groups)');
  const out: SmtpApi = { to: [], sub: {}, uniqueArgs: {}, categories: [], sendAt: null, tracking: {} };
  if (json.to !== undefined) {
    if (!Array.isArray(json.to) || !json.to.every((t) => typeof t === 'string')) return bad('to must be an array of addresses');
    for (const entry of json.to as string[]) {
      const [parsed] = addressparser(entry, { flatten: true });
      if (!parsed?.address) return bad(`to: "${entry}" is not an address`);
      out.to.push({ email: parsed.address, name: parsed.name || null });
    }
  }
  if (json.sub !== undefined) {
    if (!isRecord(json.sub)) return bad('sub must be an object of arrays');
    for (const [key, values] of Object.entries(json.sub)) {
      if (!Array.isArray(values) || !values.every((v) => typeof v === 'string' || typeof v === 'number')) return bad(`sub.${key} must be an array of strings`);
      out.sub[key] = values.map(String);
    }
  }
  if (json.unique_args !== undefined) {
    if (!isRecord(json.unique_args)) return bad('unique_args must be an object');
    for (const [key, v] of Object.entries(json.unique_args)) out.uniqueArgs[key] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  if (json.category !== undefined) {
    const categories = Array.isArray(json.category) ? json.category : [json.category];
    if (!categories.every((c) => typeof c === 'string')) return bad('category must be a string or an array of strings');
    out.categories = categories as string[];
  }
  if (json.send_at !== undefined) {
    if (typeof json.send_at !== 'number' || !Number.isInteger(json.send_at) || json.send_at < 0) return bad('send_at must be a unix time in seconds');
    out.sendAt = json.send_at;
  }
  if (isRecord(json.filters)) {
    const open = enabled(json.filters.opentrack);
    const click = enabled(json.filters.clicktrack);
    if (open !== undefined) out.tracking.open = open;
    if (click !== undefined) out.tracking.click = click;
  }
  return { ok: true, value: out };
}

/** One copy to one recipient, as its messages row will hold it. */
export interface SubmittedCopy {
  recipient: ParsedAddress;
  name: string | null;
  personalization: Record<string, unknown>;
}

export interface SubmissionPlan {
  fromAddress: ParsedAddress;
  fromName: string | null;
  subject: string;
  messageId: string | null;
  channel: Channel;
  categories: string[];
  settings: Record<string, unknown>;
  dueAt: Date;
  copies: SubmittedCopy[];
  /** Recipients named only in X-SMTPAPI `to`, still to pass the MX layer. */
  unchecked: ParsedAddress[];
  /** The message as it is stored: without the headers the relay consumed (Bcc, X-SMTPAPI, X-Md-Channel). */
  stored: Buffer;
}

const CONSUMED = new Set(['bcc', 'x-smtpapi', 'x-md-channel']);

const first = (fields: HeaderField[], name: string) => fields.find((f) => f.name === name);

/**
 * Reads a submitted message (no I/O): the From address, channel, X-SMTPAPI, and one copy per envelope
 * recipient, or per X-SMTPAPI `to` address when it names any (SendGrid's rule: the header's list then
 * replaces the envelope's, and each such copy shows its own address in To).
 */
export function planSubmission(raw: Buffer, envelope: ParsedAddress[], now: Date): { ok: true; plan: SubmissionPlan } | { ok: false; reply: Reply } {
  const { body } = splitMessage(raw);
  const fields = parseHeaderFields(splitMessage(raw).header.toString('utf8'));
  const fromField = first(fields, 'from');
  const [from, ...otherFrom] = fromField ? addressparser(fieldValue(fromField), { flatten: true }) : [];
  if (!from?.address || otherFrom.length) return { ok: false, reply: { code: 550, text: '5.7.1 the message needs a From header with exactly one address' } };
  const fromAddress = checkAddress(from.address);
  if (!fromAddress.ok) return { ok: false, reply: { code: 550, text: `5.7.1 From <${from.address}> ${fromAddress.reason}` } };

  const channelValue = (headerValue(fields, 'x-md-channel') ?? 'trans').toLowerCase();
  if (channelValue !== 'trans' && channelValue !== 'bulk') return { ok: false, reply: { code: 550, text: '5.6.0 X-Md-Channel must be trans or bulk' } };
  // Clients fold the long header, some (nodemailer) as encoded words.
  const apiHeader = headerValue(fields, 'x-smtpapi');
  const apiValue = apiHeader === null ? null : decodeEncodedWords(apiHeader);
  const parsedApi = apiValue === null ? null : parseSmtpApi(apiValue);
  if (parsedApi && !parsedApi.ok) return parsedApi;
  const api = parsedApi?.value ?? null;

  let dueAt = now;
  if (api?.sendAt != null) {
    if (api.sendAt > now.getTime() / 1000 + MAX_SCHEDULE_AHEAD_S) return { ok: false, reply: { code: 550, text: '5.6.0 X-SMTPAPI: send_at may be at most 72 hours ahead' } };
    if (api.sendAt * 1000 > now.getTime()) dueAt = new Date(api.sendAt * 1000);
  }

  const copies: SubmittedCopy[] = [];
  const unchecked: ParsedAddress[] = [];
  const viaHeader = api !== null && api.to.length > 0;
  const recipients = viaHeader ? api.to : envelope.map((r) => ({ email: r.address, name: null }));
  if (recipients.length > MAX_RECIPIENTS) return { ok: false, reply: { code: 550, text: `5.5.3 at most ${MAX_RECIPIENTS} recipients a message` } };
  const seen = new Set<string>();
  for (const [i, r] of recipients.entries()) {
    let parsed: ParsedAddress;
    if (viaHeader) {
      const checked = recipientSyntax(r.email);
      if (!checked.ok) return { ok: false, reply: { code: checked.reply.code, text: `${checked.reply.text} (X-SMTPAPI to)` } };
      parsed = checked.value;
      unchecked.push(parsed);
    } else parsed = envelope[i]!;
    if (seen.has(parsed.address.toLowerCase())) continue;
    seen.add(parsed.address.toLowerCase());
    const substitutions: Record<string, string> = {};
    for (const [key, values] of Object.entries(api?.sub ?? {})) if (values[i] !== undefined) substitutions[key] = values[i]!;
    const personalization: Record<string, unknown> = {};
    if (Object.keys(substitutions).length) personalization.substitutions = substitutions;
    if (viaHeader) personalization.to = [r.name ? { email: r.email, name: r.name } : { email: r.email }];
    copies.push({ recipient: parsed, name: r.name, personalization });
  }

  const settings: Record<string, unknown> = {};
  if (api && Object.keys(api.tracking).length) settings.tracking = api.tracking;
  if (api && Object.keys(api.uniqueArgs).length) settings.custom_args = api.uniqueArgs;
  if (channelValue === 'bulk') settings.list_unsubscribe = true;
  return {
    ok: true,
    plan: {
      fromAddress: fromAddress.value,
      fromName: from.name || null,
      subject: headerValue(fields, 'subject') ?? '',
      messageId: headerValue(fields, 'message-id'),
      channel: channelValue,
      categories: api?.categories ?? [],
      settings,
      dueAt,
      copies,
      unchecked,
      stored: fields.some((f) => CONSUMED.has(f.name))
        ? Buffer.concat([Buffer.from(fields.filter((f) => !CONSUMED.has(f.name)).map((f) => `${f.text}\r\n`).join(''), 'utf8'), Buffer.from('\r\n'), body])
        : raw,
    },
  };
}
