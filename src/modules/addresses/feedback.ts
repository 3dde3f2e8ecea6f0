import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { FeedbackReport } from './feedback-report.ts';
import * as repo from './repo.ts';
import { markContactStatus, suppressAddress } from './standing.ts';

/**
 * applyFeedback: the effects of feedback, one path for every way it arrives (the inbound
 * listener's DSNs, ARF reports and mailto unsubscribes; provider event webhooks; tracking links).
 *
 * - hard_bounce: the sent message becomes bounced (message.bounced), the address is suppressed
 *   (reason bounce, source the report's, id the message), its contact bounced, its sequence
 *   subscriptions cancelled `bounced`.
 * - complaint: message.complained once, suppressed (reason complaint), contact complained,
 *   subscriptions cancelled `complained`.
 * - soft_bounce: counted once per message; the limit-th within the window makes it a hard bounce.
 * - delivered: message.delivered once (the status stays sent: delivered is an event on top of it).
 * - unsubscribed, opened, clicked: as the tracking links do.
 * - auto_reply, unknown: nothing.
 * Effects always apply to the message's own recipient, never to an address the report names, so a
 * report can only speak about mail we sent to that address. Idempotent: a report applied twice
 * (a worker died after committing) changes nothing more.
 */

export interface FeedbackRules {
  /** Soft bounces of one address within the window that make it bounced. */
  softBounceLimit: number;
  softBounceWindowDays: number;
}

export const DEFAULT_FEEDBACK_RULES: FeedbackRules = { softBounceLimit: 5, softBounceWindowDays: 7 };

export type FeedbackEffect = 'unmatched' | 'ignored' | 'bounced' | 'soft_bounce' | 'complained' | 'delivered' | 'unsubscribed' | 'opened' | 'clicked';

export interface FeedbackOutcome {
  messageId: string | null;
  keyId: string | null;
  effect: FeedbackEffect;
}

function inTransaction<T>(db: Kysely<DB>, run: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Applies reports in one transaction (the caller's, or its own); one outcome per report, in order. */
export function applyFeedback(db: Kysely<DB>, reports: FeedbackReport[], now: Date, rules: FeedbackRules = DEFAULT_FEEDBACK_RULES): Promise<FeedbackOutcome[]> {
  if (!reports.length) return Promise.resolve([]);
  return inTransaction(db, async (trx) => {
    const outcomes: FeedbackOutcome[] = [];
    for (const report of reports) outcomes.push(await applyOne(trx, report, now, rules));
    return outcomes;
  });
}

function eventFields(report: FeedbackReport): Record<string, unknown> {
  return { source: report.source, reason: report.reason ?? null, status: report.status ?? null, detail: { ...(report.detail ?? {}), ...(report.recipient ? { recipient: report.recipient } : {}) } };
}

async function applyOne(trx: Kysely<DB>, report: FeedbackReport, now: Date, rules: FeedbackRules): Promise<FeedbackOutcome> {
  const message = report.messageId ? await repo.findFeedbackMessage(trx, report.messageId) : undefined;
  if (!message || (report.keyId && report.keyId !== message.key_id)) return { messageId: report.messageId, keyId: report.keyId ?? null, effect: 'unmatched' };
  const effect = await effectOf(trx, message, report, now, rules);
  return { messageId: message.id, keyId: message.key_id, effect };
}

async function effectOf(trx: Kysely<DB>, message: repo.FeedbackMessage, report: FeedbackReport, now: Date, rules: FeedbackRules): Promise<FeedbackEffect> {
  switch (report.kind) {
    case 'hard_bounce':
      await bounce(trx, message, report, now);
      return 'bounced';
    case 'soft_bounce': {
      const since = new Date(now.getTime() - rules.softBounceWindowDays * 86_400_000);
      const count = await repo.countSoftBounce(trx, { messageId: message.id, keyId: message.key_id, email: message.to_email, reason: report.reason ?? null }, now, since);
      if (count < rules.softBounceLimit) return 'soft_bounce';
      const detail = { ...(report.detail ?? {}), soft_bounces: count, window_days: rules.softBounceWindowDays };
      await bounce(trx, message, { ...report, detail, diagnostic: report.diagnostic ?? `${count} soft bounces in ${rules.softBounceWindowDays} days` }, now);
      return 'bounced';
    }
    case 'complaint': {
      const fields = eventFields(report);
      if (await repo.recordOnceEvent(trx, message.id, 'complained', fields, now)) await repo.emitMessageEvent(trx, message.id, 'complained', { ...fields, feedback_type: report.detail?.feedback_type ?? null }, now);
      await standing(trx, message, 'complaint', report, now);
      return 'complained';
    }
    case 'delivered': {
      const fields = eventFields(report);
      if (await repo.recordOnceEvent(trx, message.id, 'delivered', fields, now)) await repo.emitMessageEvent(trx, message.id, 'delivered', { response: report.diagnostic ?? null, ...fields }, now);
      return 'delivered';
    }
    case 'unsubscribed':
      await unsubscribeMessage(trx, message, report.source, now);
      return 'unsubscribed';
    case 'opened':
      await engage(trx, message.id, 'opened', {}, now);
      return 'opened';
    case 'clicked':
      await engage(trx, message.id, 'clicked', { url: typeof report.detail?.url === 'string' ? report.detail.url : null }, now);
      return 'clicked';
    default:
      return 'ignored';
  }
}

async function bounce(trx: Kysely<DB>, message: repo.FeedbackMessage, report: FeedbackReport, now: Date): Promise<void> {
  const fields = eventFields(report);
  const response = report.diagnostic ?? null;
  if (await repo.markMessageBounced(trx, message.id, response, { response, ...fields }, now)) {
    await repo.emitMessageEvent(trx, message.id, 'bounced', { response, stage: report.source, ...fields }, now);
  }
  await standing(trx, message, 'bounce', report, now);
}

/** The address's standing after a bounce or complaint: suppressed, contact moved, sequences left. */
async function standing(trx: Kysely<DB>, message: repo.FeedbackMessage, reason: 'bounce' | 'complaint', report: FeedbackReport, now: Date): Promise<void> {
  const detail = [report.reason, report.status, report.diagnostic].filter(Boolean).join(' ').slice(0, 1000) || null;
  const added = await suppressAddress(trx, { keyId: message.key_id, email: message.to_email, reason, sourceType: report.source, sourceId: message.id, detail }, now);
  // A new entry moved the contact and its sequences; an address already on the list (say
  // unsubscribed) still gets the stronger status.
  if (!added) await markContactStatus(trx, message.key_id, message.to_email, reason === 'bounce' ? 'bounced' : 'complained', { type: report.source, id: message.id }, now);
}

/** Records a first open or click with its message event. */
export async function engage(trx: Kysely<DB>, messageId: string, type: 'opened' | 'clicked' | 'unsubscribed', data: Record<string, unknown>, now: Date): Promise<void> {
  if (await repo.recordOnceEvent(trx, messageId, type, data, now)) await repo.emitMessageEvent(trx, messageId, type, data, now);
}

/**
 * An unsubscribe through a message (one-click POST, the confirmation form, a mailto): suppresses
 * the address (reason unsubscribe, source the campaign, else the message), moves the contact to
 * unsubscribed, and records the event on the message. Repeating it changes nothing.
 */
export async function unsubscribeMessage(trx: Kysely<DB>, message: Pick<repo.FeedbackMessage, 'id' | 'key_id' | 'to_email' | 'campaign_id'>, method: string, now: Date): Promise<void> {
  await suppressAddress(
    trx,
    {
      keyId: message.key_id,
      email: message.to_email,
      reason: 'unsubscribe',
      sourceType: message.campaign_id ? 'campaign' : 'message',
      sourceId: message.campaign_id ?? message.id,
      detail: `via ${method} ${method === 'mailto' ? 'address' : 'link'} of ${message.id}`,
    },
    now,
  );
  await engage(trx, message.id, 'unsubscribed', { method }, now);
}
