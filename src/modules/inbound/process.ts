import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { applyFeedback, type FeedbackOutcome, type FeedbackRules } from '../addresses/feedback.ts';
import type { FeedbackKind, FeedbackReport } from '../addresses/feedback-report.ts';
import { findFeedbackMessage } from '../addresses/repo.ts';
import type { ClassKind } from '../addresses/classify.ts';
import type { TokenPurpose } from '../tracking/tokens.ts';
import { interpretReport, type Finding } from './interpret.ts';
import { header } from './mime-parts.ts';
import { parseReport } from './parse.ts';
import { ownedRecipient } from './recipients.ts';
import type { ReportResult } from './repo.ts';

/**
 * What one stored inbound mail means and does: parse, classify, match, then the one feedback path.
 * Matching: a signed VERP token names the message; without one, the enclosed original's
 * Message-ID (ours: `<msg_…@MAILERDASH_HOSTNAME>`) does. A legacy unsigned return path counts only
 * when the enclosed original names the same message.
 */

export interface ProcessDeps {
  verify(purpose: TokenPurpose, token: string): Promise<string | null>;
  hostname: string;
  bounceDomain: string;
  fblAddress: string;
  rules: FeedbackRules;
}

const KIND_OF: Record<ClassKind, FeedbackKind> = {
  hard_bounce: 'hard_bounce',
  soft_bounce: 'soft_bounce',
  complaint: 'complaint',
  auto_reply: 'auto_reply',
  challenge_response: 'auto_reply',
  delivered: 'delivered',
  delayed: 'unknown',
  unknown: 'unknown',
};

interface Tokens {
  verp: string | null;
  legacy: string | null;
  unsubscribe: string | null;
}

async function tokensOf(rcptTo: string, deps: ProcessDeps): Promise<Tokens> {
  const tokens: Tokens = { verp: null, legacy: null, unsubscribe: null };
  for (const address of rcptTo.split(',').filter(Boolean)) {
    const owned = ownedRecipient(address, deps.bounceDomain, deps.fblAddress);
    if (owned.type === 'verp' && owned.legacy) tokens.legacy ??= owned.token;
    else if (owned.type === 'verp') tokens.verp ??= await deps.verify('bounce', owned.token);
    else if (owned.type === 'unsubscribe') tokens.unsubscribe ??= await deps.verify('unsubscribe', owned.token);
  }
  return tokens;
}

export async function processInboundMail(trx: Kysely<DB>, mail: { raw: Buffer; rcpt_to: string }, deps: ProcessDeps, now: Date): Promise<ReportResult> {
  const tokens = await tokensOf(mail.rcpt_to, deps);
  if (tokens.unsubscribe) {
    const outcomes = await applyFeedback(trx, [{ messageId: tokens.unsubscribe, kind: 'unsubscribed', source: 'mailto' }], now, deps.rules);
    return resultOf('mailto', outcomes, { matched_by: 'unsubscribe_token' });
  }
  const parsed = parseReport(mail.raw);
  const interpretation = interpretReport(parsed);
  const ours = (parsed.original && header(parsed.original, 'message-id')?.toLowerCase().includes(`@${deps.hostname.toLowerCase()}>`)) ?? false;
  const byMessageId = ours ? interpretation.originalMessageId : null;
  const messageId = tokens.verp ?? (tokens.legacy && tokens.legacy === byMessageId ? tokens.legacy : null) ?? (tokens.legacy ? null : byMessageId);
  const matchedBy = tokens.verp ? 'verp' : messageId ? 'message_id' : null;
  const summary = { matched_by: matchedBy, findings: interpretation.findings.map((f) => ({ recipient: f.recipient, kind: f.kind, reason: f.reason, status: f.status, action: f.action })) };
  if (!messageId) return resultOf(interpretation.form, [{ messageId: null, keyId: null, effect: 'unmatched' }], summary);
  const message = await findFeedbackMessage(trx, messageId);
  const finding = pickFinding(interpretation.findings, message?.to_email ?? null);
  if (!finding) return resultOf(interpretation.form, [{ messageId, keyId: message?.key_id ?? null, effect: 'ignored' }], summary);
  const report: FeedbackReport = {
    messageId,
    kind: KIND_OF[finding.kind],
    source: interpretation.form === 'arf' ? 'arf' : 'dsn',
    ...(finding.recipient ? { recipient: finding.recipient } : {}),
    ...(finding.reason ? { reason: finding.reason } : finding.kind === 'challenge_response' || finding.kind === 'delayed' ? { reason: finding.kind } : {}),
    ...(finding.diagnostic ? { diagnostic: finding.diagnostic } : {}),
    ...(finding.status ? { status: finding.status } : {}),
    detail: { ...withoutNulls(finding.detail), ...(finding.action ? { action: finding.action } : {}), matched_by: matchedBy },
  };
  return resultOf(interpretation.form, await applyFeedback(trx, [report], now, deps.rules), summary);
}

/** The recipient block about our message's recipient, else the first one. */
function pickFinding(findings: Finding[], toEmail: string | null): Finding | undefined {
  const lower = toEmail?.toLowerCase();
  return findings.find((f) => lower && f.recipient?.toLowerCase() === lower) ?? findings[0];
}

function withoutNulls(detail: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(detail).filter(([, v]) => v !== null && v !== undefined));
}

function resultOf(form: string, outcomes: FeedbackOutcome[], extra: Record<string, unknown>): ReportResult {
  const first = outcomes[0]!;
  return {
    status: first.effect === 'unmatched' ? 'unmatched' : 'processed',
    form,
    keyId: first.keyId,
    messageId: first.effect === 'unmatched' ? null : first.messageId,
    result: { effect: first.effect, ...extra },
  };
}
