import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMailgunEvent } from './mailgun-events.ts';
import { parsePostmarkEvent, postmarkBounceKind } from './postmark-events.ts';
import { parseSendgridEvents } from './sendgrid-events.ts';
import { parseSesEvent } from './ses-events.ts';

const mail = { messageId: 'ses-1', destination: ['a@example.test', 'b@example.test'], tags: { mailerdash_message_id: ['msg_1'] } };

describe('provider event parsers (documented payloads, pure)', () => {
  it('SES: complaint, delivery, open, click, subscription; Send is left out; identity notifications too', () => {
    const kinds = (event: object) => parseSesEvent(event, 'key_1').map((r) => [r.recipient, r.kind]);
    assert.deepEqual(kinds({ eventType: 'Complaint', mail, complaint: { complainedRecipients: [{ emailAddress: 'a@example.test' }], complaintFeedbackType: 'abuse' } }), [['a@example.test', 'complaint']]);
    assert.deepEqual(kinds({ eventType: 'Delivery', mail, delivery: { recipients: ['b@example.test'], smtpResponse: '250 ok' } }), [['b@example.test', 'delivered']]);
    assert.deepEqual(kinds({ eventType: 'Open', mail, open: { userAgent: 'x' } }), [['a@example.test', 'opened'], ['b@example.test', 'opened']]);
    assert.equal(parseSesEvent({ eventType: 'Click', mail: { ...mail, destination: ['a@example.test'] }, click: { link: 'https://x.test' } }, 'k')[0]!.detail!.link, 'https://x.test');
    assert.deepEqual(kinds({ eventType: 'Subscription', mail: { ...mail, destination: ['a@example.test'] } }), [['a@example.test', 'unsubscribed']]);
    assert.deepEqual(kinds({ eventType: 'Send', mail }), []);
    assert.deepEqual(kinds({ notificationType: 'Bounce', mail, bounce: { bounceType: 'Undetermined', bouncedRecipients: [{ emailAddress: 'a@example.test' }] } }), [['a@example.test', 'soft_bounce']]);
    assert.equal(parseSesEvent({ eventType: 'Bounce', mail: {}, bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: 'c@example.test' }] } }, 'k')[0]!.messageId, null);
  });

  it('SendGrid: dropped by reason, unsubscribes, and events it still retries are left out', () => {
    const kinds = parseSendgridEvents(
      [
        { event: 'dropped', email: 'a@x.test', reason: 'Bounced Address' },
        { event: 'dropped', email: 'b@x.test', reason: 'Spam Reporting Address' },
        { event: 'dropped', email: 'c@x.test', reason: 'Unsubscribed Address' },
        { event: 'group_unsubscribe', email: 'd@x.test' },
        { event: 'deferred', email: 'e@x.test' },
        { event: 'open', email: 'f@x.test', mailerdash_message_id: 'msg_f' },
      ],
      'k',
    ).map((r) => r.kind);
    assert.deepEqual(kinds, ['hard_bounce', 'complaint', 'unsubscribed', 'unsubscribed', 'opened']);
    assert.deepEqual(parseSendgridEvents({ not: 'an array' }, 'k'), []);
  });

  it('Mailgun: complained, opened, clicked; accepted is left out', () => {
    const kind = (event: string) => parseMailgunEvent({ 'event-data': { event, recipient: 'a@x.test' } }, 'k').map((r) => r.kind);
    assert.deepEqual([kind('complained'), kind('opened'), kind('clicked'), kind('unsubscribed'), kind('accepted')], [['complaint'], ['opened'], ['clicked'], ['unsubscribed'], []]);
  });

  it('Postmark: bounce types, complaints, clicks, subscription changes', () => {
    assert.deepEqual(['HardBounce', 'SoftBounce', 'Transient', 'AutoResponder', 'SpamNotification', 'BadEmailAddress', 'ChallengeVerification'].map(postmarkBounceKind), ['hard_bounce', 'soft_bounce', 'soft_bounce', 'auto_reply', 'complaint', 'hard_bounce', 'unknown']);
    assert.equal(parsePostmarkEvent({ RecordType: 'SpamComplaint', Email: 'a@x.test' }, 'k')[0]!.kind, 'complaint');
    assert.equal(parsePostmarkEvent({ RecordType: 'Click', Recipient: 'a@x.test', OriginalLink: 'https://x.test' }, 'k')[0]!.detail!.link, 'https://x.test');
    assert.equal(parsePostmarkEvent({ RecordType: 'SubscriptionChange', Recipient: 'a@x.test', SuppressSending: true, SuppressionReason: 'ManualSuppression' }, 'k')[0]!.kind, 'unsubscribed');
    assert.deepEqual(parsePostmarkEvent({ RecordType: 'SubscriptionChange', Recipient: 'a@x.test', SuppressSending: false }, 'k'), []);
  });
});
