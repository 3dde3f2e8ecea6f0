import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify } from './classify.ts';

describe('bounce classifier', () => {
  const cases: Array<[string, Parameters<typeof classify>[0], string, string | null]> = [
    ['Postfix user unknown', { action: 'failed', status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in virtual mailbox table' }, 'hard_bounce', 'mailbox_unknown'],
    ['Gmail no such account', { action: 'failed', status: '5.1.1', diagnostic: "smtp; 550-5.1.1 The email account that you tried to reach does not exist." }, 'hard_bounce', 'mailbox_unknown'],
    ['Exchange RecipNotFound', { action: 'failed', status: '5.1.10', diagnostic: 'smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup' }, 'hard_bounce', 'mailbox_unknown'],
    ['domain not found', { action: 'failed', status: '5.1.2', diagnostic: 'Host or domain name not found. Name service error for name=nx.example type=A' }, 'hard_bounce', 'domain_not_found'],
    ['mailbox full', { action: 'failed', status: '5.2.2', diagnostic: 'smtp; 552 5.2.2 Mailbox full' }, 'soft_bounce', 'mailbox_full'],
    ['Yahoo over quota', { action: 'failed', status: '4.2.2', diagnostic: 'smtp; 452 4.2.2 Over quota' }, 'soft_bounce', 'mailbox_full'],
    ['Spamhaus listing', { action: 'failed', status: '5.7.1', diagnostic: 'smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org' }, 'soft_bounce', 'policy_blocked'],
    ['spam content', { action: 'failed', status: '5.7.1', diagnostic: 'smtp; 550 5.7.1 Message rejected as spam by Content Filtering.' }, 'soft_bounce', 'spam_content'],
    ['too large', { action: 'failed', status: '5.3.4', diagnostic: 'smtp; 552 5.3.4 Message size exceeds fixed maximum message size' }, 'soft_bounce', 'too_large'],
    ['rate limited', { action: 'failed', status: '4.2.1', diagnostic: 'smtp; 452 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.' }, 'soft_bounce', 'rate_limited'],
    ['status code alone', { action: 'failed', status: '5.1.1' }, 'hard_bounce', 'mailbox_unknown'],
    ['a generic 5.0.0 with specific words', { action: 'failed', status: '5.0.0', diagnostic: 'smtp; 550 Unknown user x@y.example' }, 'hard_bounce', 'mailbox_unknown'],
    ['delayed never bounces', { action: 'delayed', status: '4.4.7', diagnostic: 'smtp; 421 connection timed out' }, 'delayed', 'expired'],
    ['success DSN', { action: 'delivered', status: '2.0.0' }, 'delivered', null],
    ['relayed counts as delivered', { action: 'relayed', status: '2.0.0' }, 'delivered', null],
    ['ARF abuse', { feedbackType: 'abuse' }, 'complaint', null],
    ['ARF not-spam is no complaint', { feedbackType: 'not-spam' }, 'unknown', null],
    ['out of office', { subject: 'Out of Office: your newsletter', text: 'I am away until Monday.' }, 'auto_reply', null],
    ['auto-reply headers', { subject: 'Re: hello', autoReplyHeaders: true, text: 'Thanks for your mail.' }, 'auto_reply', null],
    ['challenge-response', { subject: 'Please verify that you are human', text: 'Click to confirm, your message is waiting for approval.' }, 'challenge_response', null],
    ['prose bounce (qmail)', { bounceForm: true, text: "Hi. This is the qmail-send program. <x@y.example>:\nSorry, no mailbox here by that name. (#5.1.1)" }, 'hard_bounce', 'mailbox_unknown'],
    ['a plain mail says nothing', { subject: 'Hello', text: 'Just writing.' }, 'unknown', null],
  ];
  for (const [name, signals, kind, reason] of cases) {
    it(name, () => assert.deepEqual(classify(signals), { kind, reason }));
  }
});
