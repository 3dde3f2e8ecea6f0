import { Type, type TSchema } from 'typebox';

/** TypeBox schemas of the sequences API: validation, types and the OpenAPI document in one place. */

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Count = Type.Integer({ minimum: 0 });
const Timestamp = Type.String({ format: 'date-time' });

export const SequenceStatusSchema = Type.Union([Type.Literal('draft'), Type.Literal('active'), Type.Literal('archived')], {
  description: 'Only an active sequence sends. draft and archived send nothing; their subscribers keep their state and timing.',
});

export const SubscriberStatusSchema = Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('completed'), Type.Literal('cancelled')], {
  description: 'active and paused are live (one per contact and sequence); completed (every step sent) and cancelled are final.',
});

export const CancelReasonSchema = Type.Union(
  [Type.Literal('unsubscribed'), Type.Literal('manual'), Type.Literal('bounced'), Type.Literal('complained'), Type.Literal('suppressed')],
  { description: 'Why a subscription was cancelled: manual (DELETE), the contact became unsubscribed, bounced or complained, or the address is suppressed.' },
);

export const Step = Type.Object({
  id: Type.String({ examples: ['step_0k3x9m2p7q1r5t8v4w6y'] }),
  sequence_id: Type.String(),
  position: Type.Integer({ description: 'Order within the sequence (unique).' }),
  offset_seconds: Type.Integer({ description: 'Wait before sending: step 1 from the subscriber\'s started_at, step N from when step N-1 was sent.' }),
  subject: Nullable(Type.String()),
  html: Nullable(Type.String()),
  body_text: Nullable(Type.String()),
  from_email: Nullable(Type.String()),
  from_name: Nullable(Type.String()),
  reply_to: Nullable(Type.String()),
  template_id: Nullable(Type.String()),
  tracking: Type.Boolean({ description: 'Open pixel and click tracking of this step\'s messages.' }),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const SubscriberCounts = Type.Object({ total: Count, active: Count, paused: Count, completed: Count, cancelled: Count });

export const Sequence = Type.Object({
  id: Type.String({ examples: ['onboarding-bienvenida-a1b2c3'] }),
  key_id: Type.String(),
  name: Type.String(),
  status: SequenceStatusSchema,
  subscriber_counts: SubscriberCounts,
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const SequenceWithSteps = Type.Object({ ...Sequence.properties, steps: Type.Array(Step, { description: 'Ordered by position.' }) });

export const Subscriber = Type.Object({
  id: Type.String({ examples: ['sub_4k2m9x0p3q7r1t5v8w6y'] }),
  sequence_id: Type.String(),
  key_id: Type.String(),
  contact_id: Type.Integer(),
  email: Type.String({ description: 'Lower-cased.' }),
  status: SubscriberStatusSchema,
  cancel_reason: Nullable(CancelReasonSchema),
  variables: Type.Record(Type.String(), Type.Unknown(), { description: 'Reach the templates beside the contact\'s name, email and metadata.' }),
  started_at: Type.String({ format: 'date-time', description: 'Step 1 counts its offset from here.' }),
  current_position: Type.Integer({ description: 'Position of the last step sent; 0 before the first.' }),
  next_due_at: Nullable(
    Type.String({
      format: 'date-time',
      description: 'When the next step is due. null: no step left to wait for, or the previous step is still being sent. While paused: the due time as it stood at paused_at.',
    }),
  ),
  paused_at: Nullable(Timestamp),
  completed_at: Nullable(Timestamp),
  cancelled_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const SubscriberWithSteps = Type.Object({
  ...Subscriber.properties,
  steps_sent: Type.Array(
    Type.Object({
      position: Type.Integer(),
      message_id: Type.String({ description: 'See GET /v1/messages/{id} for its timeline.' }),
      status: Type.String({ description: 'The message status: queued, sending, sent, deferred, bounced, failed, dropped.' }),
      sent_at: Nullable(Timestamp),
      response: Nullable(Type.String({ description: 'The last SMTP reply.' })),
    }),
    { description: 'The messages made for this subscription, in step order.' },
  ),
});

const Liquid = (max: number, description: string) => Nullable(Type.String({ maxLength: max, description }));

/** The optional fields of a step, POST and PATCH alike (null clears one on PATCH). */
export const stepFields = {
  subject: Type.Optional(Liquid(998, 'Liquid ({{name}}, {{email}}, {{metadata.plan}}, subscriber variables). With a template_id it replaces the template\'s subject.')),
  html: Type.Optional(Liquid(1_000_000, 'Liquid; substituted values are HTML-escaped. With a template_id it replaces the template\'s html.')),
  body_text: Type.Optional(Liquid(1_000_000, 'Liquid. With a template_id it replaces the template\'s text.')),
  from_email: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 320, description: 'On a verified sending domain of the key (403 from_not_allowed otherwise).' }))),
  from_name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  reply_to: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 320 }))),
  template_id: Type.Optional(Nullable(Type.String({ maxLength: 100, description: 'A template of this key.' }))),
  tracking: Type.Optional(Type.Boolean({ description: 'Open pixel and click tracking (default true).' })),
};

export const offsetSeconds = Type.Integer({ minimum: 0, maximum: 315_360_000, description: 'Seconds to wait before sending this step (at most 10 years).' });
export const position = Type.Integer({ minimum: 1, maximum: 100_000, description: 'Order of the step within the sequence (1, 2, 3…), unique.' });

export const SubscribeBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320, examples: ['ana@empresa.com'] }),
    started_at: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601; may lie in the future. Default: now.' })),
    variables: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Template variables of this subscription (at most 16,384 characters of JSON).' })),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export const StepParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }), step_id: Type.String({ minLength: 1, maxLength: 100 }) });
export const SubscriberParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  email: Type.String({ minLength: 1, maxLength: 320, description: 'URL-encoded address, compared case-insensitively.' }),
});
