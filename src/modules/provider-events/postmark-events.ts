import { asRecord, asText, report, type FeedbackKind, type FeedbackReport } from './feedback.ts';
import { POSTMARK_MESSAGE_KEY } from '../../delivery/postmark/transport.ts';

const HARD = new Set(['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated']);
const SOFT = new Set(['SoftBounce', 'Transient', 'DnsError', 'Blocked', 'DMARCPolicy']);

/** A Postmark bounce `Type` as our kind. */
export function postmarkBounceKind(type: string | undefined): FeedbackKind {
  if (type && HARD.has(type)) return 'hard_bounce';
  if (type && SOFT.has(type)) return 'soft_bounce';
  if (type === 'AutoResponder') return 'auto_reply';
  if (type === 'SpamComplaint' || type === 'SpamNotification') return 'complaint';
  if (type === 'Unsubscribe') return 'unsubscribed';
  return 'unknown';
}

/** One Postmark webhook post (by RecordType) as feedback. */
export function parsePostmarkEvent(body: unknown, keyId: string | undefined): FeedbackReport[] {
  const event = asRecord(body);
  const record = asText(event.RecordType);
  let kind: FeedbackKind;
  switch (record) {
    case 'Delivery': kind = 'delivered'; break;
    case 'Bounce': kind = postmarkBounceKind(asText(event.Type)); break;
    case 'SpamComplaint': kind = 'complaint'; break;
    case 'Open': kind = 'opened'; break;
    case 'Click': kind = 'clicked'; break;
    case 'SubscriptionChange':
      if (event.SuppressSending !== true) return [];
      kind = 'unsubscribed';
      break;
    default: return [];
  }
  return [
    report({
      messageId: asText(asRecord(event.Metadata)[POSTMARK_MESSAGE_KEY]) ?? null,
      keyId,
      recipient: asText(event.Recipient) ?? asText(event.Email),
      kind,
      reason: record === 'Bounce' ? asText(event.Type) : asText(event.SuppressionReason),
      diagnostic: asText(event.Details) ?? asText(event.Description),
      source: 'postmark',
      detail: { provider_message_id: asText(event.MessageID), record_type: record, bounce_id: asText(event.ID), link: asText(event.OriginalLink) },
    }),
  ];
}
