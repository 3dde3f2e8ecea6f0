import { Type, type TSchema } from 'typebox';

/**
 * Every event type MailerDash reports, with the schema of its `data`. The OpenAPI document's
 * `webhooks` section is made from this list, so what a receiver reads there is what it gets.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const MessageData = (extra: Record<string, TSchema> = {}, description = '') =>
  Type.Object(
    {
      message_id: Type.String({ description: 'The message (`msg_…`): one recipient of one send.' }),
      key_id: Type.String({ description: 'The API key the message belongs to.' }),
      email: Type.String({ description: 'The recipient address.' }),
      channel: Type.Union([Type.Literal('trans'), Type.Literal('bulk')]),
      campaign_id: Nullable(Type.String({ description: 'The campaign the message was made for, if any.' })),
      request_id: Nullable(Type.String({ description: 'The X-Message-Id of the send request that accepted it, if any.' })),
      custom_args: Type.Record(Type.String(), Type.String(), { description: "The send request's custom_args (top level and personalization merged)." }),
      ...extra,
    },
    { description },
  );

const smtpReply = Nullable(Type.String({ description: 'The last SMTP reply, e.g. `250 2.0.0 Ok: queued` or `550 5.1.1 unknown user`.' }));

/** What a piece of feedback (DSN, ARF, provider event) adds to a message event; absent for synchronous replies. */
const feedbackFields = {
  source: Type.Optional(Type.String({ description: 'Where the feedback came from: dsn, arf, mailto, ses, sendgrid, mailgun, postmark.' })),
  reason: Type.Optional(Nullable(Type.String({ description: 'The classification: mailbox_unknown, mailbox_full, domain_not_found, policy_blocked, spam_content, too_large, rate_limited, expired, other…' }))),
  status: Type.Optional(Nullable(Type.String({ description: 'The enhanced status code the report gave, e.g. 5.1.1.' }))),
  detail: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'What else the report said (Remote-MTA, Arrival-Date, Source-IP…).' })),
};

const CampaignData = Type.Object({
  campaign_id: Type.String(),
  key_id: Type.String(),
  name: Type.String(),
  status: Type.String({ description: 'The campaign status after the change.' }),
});

const SequenceData = (extra: Record<string, TSchema> = {}, description = '') =>
  Type.Object(
    {
      sequence_id: Type.String(),
      subscriber_id: Type.String({ description: 'The subscription (`sub_…`).' }),
      key_id: Type.String(),
      email: Type.String({ description: 'The subscriber address (lower-cased).' }),
      contact_id: Type.Integer(),
      ...extra,
    },
    { description },
  );

const SequenceStepData = (description: string) =>
  SequenceData(
    {
      step_id: Type.String({ description: 'The step (`step_…`).' }),
      position: Type.Integer(),
      message_id: Type.String({ description: 'The message made for the step (`msg_…`).' }),
      response: smtpReply,
    },
    description,
  );

const BatchData = (description: string) =>
  Type.Object(
    {
      batch_id: Type.String({ description: 'The batch (`batch_…`).' }),
      key_id: Type.String(),
      status: Type.String({ description: 'accepted, canary, awaiting_approval, sending, completed or cancelled.' }),
      outcome: Nullable(Type.String({ description: 'Once completed: success, partial (some recipients finally failed) or failed.' })),
      counts: Type.Record(Type.String(), Type.Integer(), { description: 'submitted, accepted, rejected, and messages by state (queued, sending, deferred, sent, bounced, failed, dropped).' }),
      hold: Nullable(Type.Object({ reason: Type.String(), bounce_rate: Type.Number(), complaint_rate: Type.Number() }, { additionalProperties: true })),
    },
    { description },
  );

export const EVENT_TYPES = {
  'message.sent': MessageData({ response: smtpReply }, 'The next hop (relay or receiving server) accepted the message with a 2xx.'),
  'message.delivered': MessageData({ response: smtpReply, ...feedbackFields }, 'A provider or a success DSN confirmed delivery.'),
  'message.deferred': MessageData(
    { response: smtpReply, attempt: Type.Integer(), retry_at: Type.String({ format: 'date-time' }) },
    'A temporary failure (4xx or connection trouble); the message is tried again at retry_at.',
  ),
  'message.bounced': MessageData(
    { response: smtpReply, stage: Nullable(Type.String()), ...feedbackFields },
    'A permanent failure for the recipient: a 5xx reply, a DSN or provider event classified hard, or too many soft bounces; the address is suppressed.',
  ),
  'message.dropped': MessageData({ reason: Type.String({ description: 'Why it was never attempted: suppressed (reason), sandbox, campaign cancelled.' }) }, 'Never attempted.'),
  'message.failed': MessageData({ response: smtpReply }, 'Given up: retries ran out, or a failure that is not the recipient\'s (content, relay refusal).'),
  'message.opened': MessageData({}, 'The first open of the message (its tracking pixel was loaded).'),
  'message.clicked': MessageData({ url: Type.String() }, 'The first click on a tracked link of the message.'),
  'message.complained': MessageData(
    { ...feedbackFields, feedback_type: Type.Optional(Nullable(Type.String({ description: 'ARF Feedback-Type (abuse, fraud, virus, other…).' }))) },
    'The recipient marked the message as spam (an ARF report or a provider complaint); the address is suppressed.',
  ),
  'message.unsubscribed': MessageData({ method: Type.String({ description: '`one-click` (RFC 8058) or `form`.' }) }, 'The recipient unsubscribed through the message\'s link.'),
  'campaign.sent': CampaignData,
  'campaign.paused': CampaignData,
  'campaign.cancelled': CampaignData,
  'contact.unsubscribed': Type.Object({
    contact_id: Type.Integer(),
    key_id: Type.String(),
    email: Type.String(),
    previous_status: Type.String(),
    source: Type.String({ description: 'What unsubscribed it: api, unsubscribe (a link), campaign, message…' }),
  }),
  'sequence.subscribed': SequenceData({}, 'A contact subscribed to a sequence (a new subscription that may receive steps).'),
  'sequence.step.sent': SequenceStepData("A sequence step was sent: the next hop accepted the step's message."),
  'sequence.step.failed': SequenceStepData("A sequence step could not be sent: the step's message bounced, failed or was dropped."),
  'sequence.completed': SequenceData({}, 'The subscriber was sent every step of the sequence.'),
  'sequence.cancelled': SequenceData(
    {
      reason: Type.Union([Type.Literal('unsubscribed'), Type.Literal('manual'), Type.Literal('bounced'), Type.Literal('complained'), Type.Literal('suppressed')], {
        description: 'manual: DELETE of the subscriber; unsubscribed, bounced, complained: the contact\'s status; suppressed: the address is on the suppression list.',
      }),
    },
    'The subscription was cancelled: nothing more is sent to it. Also sent for a subscription created already cancelled (a suppressed address).',
  ),
  'batch.progress': BatchData('A batch changed status, or its counts moved (to webhooks at most once every 10 s between status changes).'),
  'batch.completed': BatchData('A batch has no message left to send (status completed, with its outcome), or was cancelled.'),
  'webhook.test': Type.Object({ webhook_id: Type.String(), key_id: Type.String(), message: Type.String() }),
} satisfies Record<string, TSchema>;

export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

/** Message statuses whose change is an event (the type is `message.<status>`). */
export const MESSAGE_OUTCOME_EVENTS = ['sent', 'deferred', 'bounced', 'dropped', 'failed'] as const;

/** The OpenAPI 3.1 `webhooks` section: one POST per event type, the body being the envelope. */
export function openApiWebhooks(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [type, data] of Object.entries(EVENT_TYPES)) {
    out[type] = {
      post: {
        summary: type,
        description: `${(data as { description?: string }).description ?? type}\n\nSigned per Standard Webhooks: headers webhook-id (the same for every retry), webhook-timestamp, webhook-signature.`,
        requestBody: {
          content: {
            'application/json': {
              schema: Type.Object({ type: Type.Literal(type), timestamp: Type.String({ format: 'date-time', description: 'When the event happened.' }), data }),
            },
          },
        },
        responses: { '2XX': { description: 'Received. Anything else (a 3xx included) is retried; 410 disables the endpoint.' } },
      },
    };
  }
  return out;
}
