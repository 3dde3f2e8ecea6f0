/**
 * One piece of feedback about one sent message (or one address), however it arrived: a DSN or ARF
 * mail to the inbound listener, a mailto unsubscribe, or a provider's event webhook. Whoever
 * receives it builds this and hands it to applyFeedback (./feedback.ts), which owns every effect.
 */
export type FeedbackKind = 'delivered' | 'hard_bounce' | 'soft_bounce' | 'complaint' | 'opened' | 'clicked' | 'unsubscribed' | 'auto_reply' | 'unknown';

export type FeedbackSource = 'dsn' | 'arf' | 'mailto' | 'ses' | 'sendgrid' | 'mailgun' | 'postmark';

export interface FeedbackReport {
  /**
   * Our message (`msg_…`), already authenticated by the caller (a signed VERP token, the enclosed
   * original's Message-ID, a provider's signed event). Null: the report could not be matched; it
   * changes nothing and is counted as unmatched.
   */
  messageId: string | null;
  /** When given, the message must belong to this key, or the report is unmatched. */
  keyId?: string;
  /** The recipient the report names (may be redacted or a forwarded address); effects always apply to the message's own recipient. */
  recipient?: string;
  kind: FeedbackKind;
  /** The classification reason: mailbox_unknown, mailbox_full, domain_not_found, policy_blocked, spam_content, too_large, rate_limited, … */
  reason?: string;
  /** The remote server's words, e.g. `smtp; 550 5.1.1 user unknown`. */
  diagnostic?: string;
  /** The enhanced status code, e.g. `5.1.1`. */
  status?: string;
  source: FeedbackSource;
  /** Whatever else the report said (Remote-MTA, Feedback-Type, Source-IP, a click's url…), passed into the event's data. */
  detail?: Record<string, unknown>;
}
