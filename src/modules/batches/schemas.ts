import { Type, type Static } from 'typebox';
import { Address, Content } from '../send/schemas.ts';

const ONE_LINE = '^[^\\r\\n]*$';
const closed = { additionalProperties: false } as const;
const StringMap = (description: string) => Type.Record(Type.String(), Type.String({ pattern: ONE_LINE }), { description });

export const MAX_BATCH_RECIPIENTS = 100_000;
/** How many rejections the 202 lists (the export has all of them). */
export const MAX_LISTED_REJECTIONS = 1000;

export const BatchRecipient = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    name: Type.Optional(Type.String({ maxLength: 256, pattern: ONE_LINE })),
    variables: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Liquid variables of this recipient ({{name}} and {{email}} are always set).' })),
    idempotency_key: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: "Dedupes this recipient across the key's batches for 24 h: a later recipient with the same key is rejected (duplicate_idempotency_key)." }),
    ),
  },
  closed,
);
export type BatchRecipientT = Static<typeof BatchRecipient>;

export const ProviderPolicySchema = Type.Object(
  {
    providers: Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { minItems: 1, maxItems: 10, uniqueItems: true, description: 'Named providers (MAILERDASH_PROVIDERS), in failover order.' }),
    strategy: Type.Union([Type.Literal('failover'), Type.Literal('weighted')], { default: 'failover' }),
    weights: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: 10, description: 'With weighted: one weight per provider.' })),
    hourly_cap: Type.Optional(Type.Integer({ minimum: 1, description: "Most recipients each provider takes per hour for this key's batches, counted across every worker process." })),
  },
  closed,
);

export const CanarySchema = Type.Object(
  {
    percent: Type.Integer({ minimum: 1, maximum: 5 }),
    hold: Type.Boolean({ default: false, description: 'Wait in awaiting_approval after the slice until POST /v1/batches/{id}/approve.' }),
    max_bounce_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "A slice bouncing more than this (0..1) holds the batch on its own." })),
    max_complaint_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  closed,
);

/** Everything of the body but `recipients`: small, and checked once the stream has ended. */
export const BatchHeader = Type.Object(
  {
    from: Address,
    reply_to: Type.Optional(Address),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998, pattern: ONE_LINE })),
    content: Type.Optional(Type.Array(Content, { minItems: 1, maxItems: 2, description: 'As in /v1/mail/send; required unless template_id is given.' })),
    template_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    headers: Type.Optional(StringMap('Extra headers of every message.')),
    custom_args: Type.Optional(StringMap('Kept with each message and sent back in its events.')),
    channel: Type.Union([Type.Literal('trans'), Type.Literal('bulk')], { default: 'bulk' }),
    send_at: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds: when to start (at most 72 h ahead).' })),
    provider_policy: Type.Optional(ProviderPolicySchema),
    canary: Type.Optional(CanarySchema),
  },
  closed,
);
export type BatchHeaderT = Static<typeof BatchHeader>;

/** The documented body (the route reads it as a stream and checks it piece by piece with the schemas above). */
export const BatchBody = Type.Intersect([
  BatchHeader,
  Type.Object({ recipients: Type.Array(BatchRecipient, { minItems: 1, maxItems: MAX_BATCH_RECIPIENTS }) }),
]);

export const BatchStatusSchema = Type.Union([
  Type.Literal('accepted'),
  Type.Literal('canary'),
  Type.Literal('awaiting_approval'),
  Type.Literal('sending'),
  Type.Literal('completed'),
  Type.Literal('cancelled'),
]);

const Counts = Type.Record(Type.String(), Type.Integer(), { description: 'submitted, accepted, rejected, and messages by state: queued, sending, deferred, sent, bounced, failed, dropped.' });

export const Rejection = Type.Object({ index: Type.Integer({ description: 'Position in `recipients`.' }), email: Type.String(), reason: Type.String() });

export const BatchView = Type.Object({
  id: Type.String(),
  key_id: Type.String(),
  status: BatchStatusSchema,
  outcome: Type.Union([Type.Literal('success'), Type.Literal('partial'), Type.Literal('failed'), Type.Null()]),
  channel: Type.String(),
  idempotency_key: Type.Union([Type.String(), Type.Null()]),
  provider_policy: Type.Union([ProviderPolicySchema, Type.Null()]),
  canary: Type.Union([Type.Object({ percent: Type.Integer(), hold: Type.Boolean(), seed: Type.String(), size: Type.Integer() }, { additionalProperties: true }), Type.Null()]),
  hold: Type.Union([Type.Object({ reason: Type.String(), bounce_rate: Type.Number(), complaint_rate: Type.Number(), at: Type.String() }), Type.Null()]),
  counts: Counts,
  send_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  completed_at: Type.Union([Type.String(), Type.Null()]),
});
export type BatchViewT = Static<typeof BatchView>;

export const BatchAccepted = Type.Intersect([
  BatchView,
  Type.Object({
    rejections: Type.Array(Rejection, { description: `The first ${MAX_LISTED_REJECTIONS} rejections by position (all are in the export).` }),
    rejections_truncated: Type.Boolean(),
    rejected_by_reason: Type.Record(Type.String(), Type.Integer()),
  }),
]);

export const Decision = Type.Object({
  provider: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String({ description: 'primary, weight, failover, cap_reached (waiting or moved on).' }),
  detail: Type.Union([Type.String(), Type.Null()]),
  count: Type.Integer({ description: 'Consecutive identical decisions, counted rather than repeated.' }),
  first_at: Type.String(),
  last_at: Type.String(),
});
