import { asRecord, asText, report, type FeedbackKind, type FeedbackReport } from './feedback.ts';
import { MAILGUN_MESSAGE_VARIABLE } from '../../delivery/mailgun/transport.ts';

/** One Mailgun webhook post (`event-data`) as feedback: `failed` is hard when its severity is permanent. */
export function parseMailgunEvent(body: unknown, keyId: string | undefined): FeedbackReport[] {
  const data = asRecord(asRecord(body)['event-data']);
  const name = asText(data.event);
  let kind: FeedbackKind;
  switch (name) {
    case 'delivered': kind = 'delivered'; break;
    case 'failed': kind = asText(data.severity) === 'permanent' ? 'hard_bounce' : 'soft_bounce'; break;
    case 'complained': kind = 'complaint'; break;
    case 'opened': kind = 'opened'; break;
    case 'clicked': kind = 'clicked'; break;
    case 'unsubscribed': kind = 'unsubscribed'; break;
    case 'accepted': case 'stored': case undefined: return [];
    default: kind = 'unknown';
  }
  const status = asRecord(data['delivery-status']);
  const headers = asRecord(asRecord(data.message).headers);
  return [
    report({
      messageId: asText(asRecord(data['user-variables'])[MAILGUN_MESSAGE_VARIABLE]) ?? null,
      keyId,
      recipient: asText(data.recipient),
      kind,
      reason: asText(data.reason),
      status: asText(status['enhanced-code']) ?? asText(status.code),
      diagnostic: asText(status.description) ?? asText(status.message),
      source: 'mailgun',
      detail: { provider_message_id: asText(headers['message-id']), event_id: asText(data.id), event: name, url: asText(data.url) },
    }),
  ];
}
