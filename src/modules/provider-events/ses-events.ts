import { asArray, asRecord, asText, report, type FeedbackKind, type FeedbackReport } from './feedback.ts';
import { SES_MESSAGE_TAG } from '../../delivery/ses/transport.ts';

/**
 * SES event publishing (and the older identity notifications) as feedback: the `Message` of an
 * SNS Notification, JSON. Bounce Permanent is hard, Transient and Undetermined soft; one report
 * per recipient named. Send says nothing new and is left out.
 */
export function parseSesEvent(message: unknown, keyId: string | undefined): FeedbackReport[] {
  const event = asRecord(message);
  const type = asText(event.eventType) ?? asText(event.notificationType);
  const mail = asRecord(event.mail);
  const tags = asRecord(mail.tags);
  const ours = asText(asArray(tags[SES_MESSAGE_TAG])[0]) ?? null;
  const detail = { provider_message_id: asText(mail.messageId), event_type: type };
  const base = { messageId: ours, keyId, source: 'ses' as const };
  const each = (recipients: unknown[], kind: FeedbackKind, extra: (r: Record<string, unknown>) => Partial<FeedbackReport> = () => ({})) =>
    recipients.map((r) => {
      const recipient = typeof r === 'string' ? { emailAddress: r } : asRecord(r);
      return report({ ...base, recipient: asText(recipient.emailAddress), kind, detail, ...extra(recipient) });
    });
  const destination = asArray(mail.destination);
  switch (type) {
    case 'Bounce': {
      const bounce = asRecord(event.bounce);
      const kind = asText(bounce.bounceType) === 'Permanent' ? 'hard_bounce' : 'soft_bounce';
      return each(asArray(bounce.bouncedRecipients), kind, (r) => ({ status: asText(r.status), diagnostic: asText(r.diagnosticCode), reason: [asText(bounce.bounceType), asText(bounce.bounceSubType)].filter(Boolean).join('/') }));
    }
    case 'Complaint': {
      const complaint = asRecord(event.complaint);
      return each(asArray(complaint.complainedRecipients), 'complaint', () => ({ reason: asText(complaint.complaintFeedbackType) }));
    }
    case 'Delivery': {
      const delivery = asRecord(event.delivery);
      return each(asArray(delivery.recipients).length ? asArray(delivery.recipients) : destination, 'delivered', () => ({ diagnostic: asText(delivery.smtpResponse) }));
    }
    case 'Open':
      return each(destination, 'opened', () => ({ detail: { ...detail, user_agent: asText(asRecord(event.open).userAgent) } }));
    case 'Click':
      return each(destination, 'clicked', () => ({ detail: { ...detail, link: asText(asRecord(event.click).link) } }));
    case 'Subscription':
      return each(destination, 'unsubscribed');
    case 'Send':
      return [];
    default:
      // Reject, Rendering Failure, DeliveryDelay: kept, for the effects path to judge.
      return each(destination, 'unknown', () => ({ reason: type }));
  }
}
