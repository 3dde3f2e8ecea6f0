import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

/**
 * One piece of feedback about a sent message, in the shape of the one effects path
 * (applyFeedback in src/modules/addresses/, from the inbound feedback work): declared here with
 * exactly that shape so the two merge; the composition root hands in the real function.
 */
export type FeedbackReport = {
  messageId: string | null;
  keyId?: string;
  recipient?: string;
  kind: 'delivered' | 'hard_bounce' | 'soft_bounce' | 'complaint' | 'opened' | 'clicked' | 'unsubscribed' | 'auto_reply' | 'unknown';
  reason?: string;
  diagnostic?: string;
  status?: string;
  source: 'dsn' | 'arf' | 'mailto' | 'ses' | 'sendgrid' | 'mailgun' | 'postmark';
  detail?: Record<string, unknown>;
};

export type ApplyFeedback = (db: Kysely<DB>, reports: FeedbackReport[], now: Date) => Promise<unknown>;

export type FeedbackKind = FeedbackReport['kind'];

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);
export const asText = text;
export const asRecord = (value: unknown): Record<string, unknown> => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});
export const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** A report without the fields left undefined (what the effects path stores stays small). */
export function report(fields: FeedbackReport): FeedbackReport {
  const defined = <T extends object>(object: T) => Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
  return defined({ ...fields, detail: fields.detail && defined(fields.detail) });
}
