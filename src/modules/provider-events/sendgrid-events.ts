import { asArray, asRecord, asText, report, type FeedbackKind, type FeedbackReport } from './feedback.ts';
import { SENDGRID_MESSAGE_ARG } from '../../delivery/sendgrid/transport.ts';

/** SendGrid's `dropped` reasons that say why it would not send to the address. */
function droppedKind(reason: string | undefined): FeedbackKind {
  if (!reason) return 'unknown';
  if (/bounced address|invalid/i.test(reason)) return 'hard_bounce';
  if (/spam reporting address/i.test(reason)) return 'complaint';
  if (/unsubscribed address/i.test(reason)) return 'unsubscribed';
  return 'unknown';
}

/**
 * The SendGrid Event Webhook body (a JSON array of events) as feedback. `bounce` is hard, `blocked`
 * (a bounce of type blocked) soft; processed and deferred (SendGrid still retrying) are left out.
 */
export function parseSendgridEvents(body: unknown, keyId: string | undefined): FeedbackReport[] {
  return asArray(body).flatMap((item): FeedbackReport[] => {
    const event = asRecord(item);
    const name = asText(event.event);
    let kind: FeedbackKind;
    switch (name) {
      case 'delivered': kind = 'delivered'; break;
      case 'bounce': kind = asText(event.type) === 'blocked' ? 'soft_bounce' : 'hard_bounce'; break;
      case 'dropped': kind = droppedKind(asText(event.reason)); break;
      case 'spamreport': kind = 'complaint'; break;
      case 'open': kind = 'opened'; break;
      case 'click': kind = 'clicked'; break;
      case 'unsubscribe': case 'group_unsubscribe': kind = 'unsubscribed'; break;
      case 'processed': case 'deferred': case undefined: return [];
      default: kind = 'unknown';
    }
    return [
      report({
        messageId: asText(event[SENDGRID_MESSAGE_ARG]) ?? null,
        keyId,
        recipient: asText(event.email),
        kind,
        reason: asText(event.reason) ?? asText(event.bounce_classification),
        status: asText(event.status),
        source: 'sendgrid',
        detail: { provider_message_id: asText(event.sg_message_id), sg_event_id: asText(event.sg_event_id), event: name, url: asText(event.url) },
      }),
    ];
  });
}
