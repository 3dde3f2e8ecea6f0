import { classify, type BounceReason, type ClassKind } from '../addresses/classify.ts';
import { header } from './mime-parts.ts';
import type { ParsedReport } from './parse.ts';

/** One finding of a report: what happened to one recipient, classified. */
export interface Finding {
  recipient: string | null;
  kind: ClassKind;
  reason: BounceReason | null;
  status: string | null;
  action: string | null;
  diagnostic: string | null;
  detail: Record<string, unknown>;
}

export interface Interpretation {
  form: 'dsn' | 'arf' | 'text';
  findings: Finding[];
  /** Our message id named by the enclosed original's Message-ID (`<msg_…@host>`), if any. */
  originalMessageId: string | null;
}

const BOUNCE_FROM = /mailer-daemon|postmaster|mail delivery|mail administrator|mailer_daemon|mmdf|mail ?system/i;
const BOUNCE_SUBJECT =
  /undeliver|returned mail|delivery (?:status notification|failure|failed|problem|has failed|notification|report)|failure notice|mail delivery (?:failed|failure|system)|non[- ]?delivery|could not be delivered|bounce|not delivered|returned to sender|could not send|mail (?:system )?error|failed delivery|delivery error|rejected|nicht zustellbar|unzustellbar|permanent error|mail failure|message you sent|warning: message/i;
const AUTO_REPLY_HEADERS = (r: ParsedReport) =>
  /auto-replied/i.test(header(r.headers, 'auto-submitted') ?? '') ||
  header(r.headers, 'x-autoreply') !== undefined ||
  header(r.headers, 'x-autorespond') !== undefined ||
  /auto_reply/i.test(header(r.headers, 'precedence') ?? '');
const ADDRESS = /<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?/;

/** Our message id in a Message-ID value (`<msg_…@hostname>`), or null. */
export function messageIdOf(value: string | undefined | null): string | null {
  return /<?(msg_[0-9a-z]{8,40})@[^>\s]+>?/i.exec(value ?? '')?.[1] ?? null;
}

/** The text without the enclosed original (which would speak of anything). */
function ownText(text: string): string {
  const cut = text.search(/^(?:-+ ?(?:original message|this is a copy|below this line|the header of the original)|received: |return-path: )/im);
  return cut > 0 ? text.slice(0, cut) : text;
}

export function interpretReport(report: ParsedReport): Interpretation {
  const originalMessageId = messageIdOf(report.original ? header(report.original, 'message-id') : null);
  if (report.arf) {
    const a = report.arf;
    const { kind, reason } = classify({ feedbackType: a.feedbackType ?? 'abuse' });
    const detail = { feedback_type: a.feedbackType, original_mail_from: a.originalMailFrom, arrival_date: a.arrivalDate, source_ip: a.sourceIp, user_agent: a.userAgent, reported_domain: a.reportedDomain };
    const recipient = a.originalRcptTo && !/redacted|\*{3}/i.test(a.originalRcptTo) ? a.originalRcptTo : null;
    return { form: 'arf', originalMessageId, findings: [{ recipient, kind, reason, status: null, action: null, diagnostic: null, detail }] };
  }
  const bounceForm = !!report.dsn || BOUNCE_FROM.test(report.from) || BOUNCE_SUBJECT.test(report.subject);
  const text = ownText(report.text);
  if (report.dsn) {
    const findings = report.dsn.recipients.map((r): Finding => {
      // A DSN without a Diagnostic-Code still explains itself in its text part.
      const { kind, reason } = classify({ action: r.action, status: r.status, diagnostic: r.diagnostic, text: r.diagnostic ? null : text, subject: report.subject, bounceForm });
      return {
        recipient: r.finalRecipient ?? r.originalRecipient,
        kind,
        reason,
        status: r.status,
        action: r.action,
        diagnostic: r.diagnostic,
        detail: { remote_mta: r.remoteMta, reporting_mta: report.dsn!.reportingMta, original_recipient: r.originalRecipient },
      };
    });
    return { form: 'dsn', originalMessageId, findings };
  }
  const status = bounceForm ? (/\b([45]\.\d{1,3}\.\d{1,3})\b/.exec(text)?.[1] ?? null) : null;
  const { kind, reason } = classify({ text, status, subject: report.subject, bounceForm, autoReplyHeaders: AUTO_REPLY_HEADERS(report) });
  const diagnostic = /^.*\b[45]\d\d[ -][^\n]*$/m.exec(text)?.[0]?.trim().slice(0, 500) ?? null;
  const recipient = bounceForm ? (ADDRESS.exec(text)?.[1] ?? null) : null;
  return { form: 'text', originalMessageId, findings: [{ recipient, kind, reason, status, action: null, diagnostic, detail: { subject: report.subject } }] };
}
