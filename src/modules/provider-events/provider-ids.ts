import type { ProviderType } from '../../delivery/provider-types.ts';

/**
 * The ids our message may have been stored under, for the provider message id an event names:
 * what each provider's send call answered and what its events carry differ in form.
 * - SendGrid: sg_message_id is the call's X-Message-Id, then `.` and the id of the filter that
 *   handled it (`14c5d75ce93.filterdrecv-…`); ids of older accounts hold dots of their own, so
 *   every prefix ending before a dot is a candidate.
 * - Mailgun: the send answer's id is `<20261201230000.abc@mg.example.com>`, its events' message-id
 *   header value the same without the angle brackets.
 * - SES (mail.messageId) and Postmark (MessageID): the same string both ways.
 */
export function providerIdCandidates(type: ProviderType, id: string): string[] {
  switch (type) {
    case 'sendgrid': {
      const parts = id.split('.');
      return parts.map((_, i) => parts.slice(0, i + 1).join('.'));
    }
    case 'mailgun': {
      const bare = id.replace(/^<|>$/g, '');
      return [`<${bare}>`, bare];
    }
    default:
      return [id];
  }
}
