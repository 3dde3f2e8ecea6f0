import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { refuseLineBreaks } from '../../http/input-guards.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import {
  IdParams,
  offsetSeconds,
  position,
  Sequence,
  SequenceStatusSchema,
  SequenceWithSteps,
  Step,
  stepFields,
  StepParams,
  SubscribeBody,
  Subscriber,
  SubscriberParams,
  SubscriberStatusSchema,
  SubscriberWithSteps,
} from './schemas.ts';
import type { SequencesService } from './service.ts';

const tags = ['sequences'];
/** Fields written into mail headers: no CR or LF (400 invalid_header_value), as in /v1/mail/send. */
const headerFields = refuseLineBreaks(['subject', 'from_email', 'from_name', 'reply_to']);

const PATCH_DESCRIPTION = `Renames the sequence or moves it between \`draft\`, \`active\` and \`archived\` (in any order).

Only an **active** sequence sends. While it is draft or archived its subscribers keep their state and their timing: their due times are not moved, and nothing is sent. When it becomes active again, every step that fell due meanwhile goes out at once (one step per subscriber; the following step is then timed from that send), and the rest at their due times. Subscribing to an archived sequence is a 409.

Becoming active needs every step to have a \`from_email\` (409 \`step_without_from\`) on a domain the key may still send from (403 \`from_not_allowed\`).`;

const STEP_DESCRIPTION = `Content: \`subject\` with \`html\` and/or \`body_text\`, or a \`template_id\` of this key (400 \`missing_content\` naming the fields when neither is given; 400 \`template_not_found\`). With a template, each of \`subject\`, \`html\` and \`body_text\` set on the step replaces the template's own (the seed example's \`{{name}}\` subject replaces the template's subject).

\`position\` is unique within the sequence: a position already taken is a **409 \`position_taken\`** (nothing is shifted). Positions need not be consecutive; steps are sent in position order. A step added at or before a subscriber's current position is never sent to that subscriber.

\`from_email\` is optional while the sequence is draft or archived, required on a step of an active sequence (400 \`from_required\`), and must be on a verified domain of the key (403 \`from_not_allowed\`). Subscribers still waiting for their first step, or whose previous step was sent, are re-timed to their new next step.

**Sending.** Each due step is one bulk message through the shared delivery pipeline (List-Unsubscribe with one-click, tracking, the suppression check at send time, DKIM), rendered with the subscription's \`variables\` and, on top, the contact's \`name\`, \`email\` and \`metadata\`. Step content is read when the step falls due, so an edit of the step or of its template reaches only the sends still to come. Step N is due at the send time of step N−1 + its \`offset_seconds\`. What the step's outcome does:
- sent: \`sequence.step.sent\`, then the next step is timed, or the subscription is \`completed\` (\`sequence.completed\`);
- bounced: \`sequence.step.failed\`, and the subscription is cancelled with reason \`bounced\`;
- dropped because the address is suppressed: \`sequence.step.failed\`, cancelled with reason \`suppressed\`;
- finally failed (retries exhausted), or a step that cannot be made (its template was deleted and the step has no subject and body of its own, or its \`from_email\` is no longer on a verified domain of the key: a message is recorded failed with the reason): \`sequence.step.failed\`, and the subscriber **moves on**: the next step is due at the failure time + its offset, or the subscription completes. One undeliverable step does not hold the rest back; the webhook says which failed.
A contact deleted while subscribed is cancelled (reason \`manual\`) when its next step falls due.`;

const SUBSCRIBE_DESCRIPTION = `Idempotent: when the contact already has an **active or paused** subscription, it is answered as it stands with **200** (\`started_at\` and \`variables\` of this request are not applied). A new subscription answers **201**. When the existing subscription is **completed or cancelled**, the answer is **409** (\`subscription_completed\`, \`subscription_cancelled\`): a contact goes through a sequence once.

- An address that is not a contact of this key yet **becomes a contact** (status active), as SendGrid and Loops do.
- A contact that is bounced, complained or unsubscribed, or an address on the suppression list, is not refused: its subscription is **created already cancelled** (\`cancel_reason\` bounced, complained, unsubscribed, or \`suppressed\` for a suppression-list entry), answered **201**, and never sends. Its webhook event is \`sequence.cancelled\` with that reason (no \`sequence.subscribed\`).
- A new live subscription writes \`sequence.subscribed\`. Its first step is due at \`started_at\` (default now; may lie in the future) + the first step's \`offset_seconds\`; with no steps yet, \`next_due_at\` is null until a step is added.
- Subscribing to an archived sequence is a 409 \`sequence_archived\`; a draft one accepts subscribers (nothing is sent until it is active).
- Later, when the contact becomes unsubscribed (including through a step's own unsubscribe link), bounced or complained, or its address is added to the suppression list, every live subscription of the address is cancelled at once with the matching reason (\`unsubscribed\`, \`bounced\`, \`complained\`, \`suppressed\`) and \`sequence.cancelled\`.`;

const RESUME_DESCRIPTION = `Continues a paused subscription. The wait that remained at pause time is kept: \`next_due_at\` = resume time + max(0, \`next_due_at\` − \`paused_at\`). A step that was already due when paused is due at once; time spent paused neither shortens nor lengthens any wait. Resuming an active subscription changes nothing (200); a completed or cancelled one is a 409.`;

export const sequencesRoutes: FastifyPluginAsyncTypebox<{ sequences: SequencesService; idempotency: IdempotencyService }> = async (app, { sequences, idempotency }) => {
  app.get(
    '/v1/bulk/sequences',
    {
      schema: {
        tags,
        summary: 'List sequences with subscriber counts by state',
        querystring: Type.Object({ ...PageQuery, status: Type.Optional(SequenceStatusSchema), key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Sequence), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id, status } = request.query;
      return { ...(await sequences.list(readScope(request, key_id), { limit, offset, status })), limit, offset };
    },
  );

  app.post(
    '/v1/bulk/sequences',
    {
      schema: {
        tags,
        summary: 'Create a sequence (status draft; id slug-6hex from the name; honours Idempotency-Key)',
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200, examples: ['Onboarding - Bienvenida'] }) }, { additionalProperties: false }),
        response: { 201: SequenceWithSteps, ...errorResponses(400, 401, 409, 415, 422) },
      },
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'sequence.create', payload: request.body }, async () => ({
        status: 201,
        headers: {},
        body: await sequences.create(request.principal, request.body),
      })),
  );

  app.get(
    '/v1/bulk/sequences/:id',
    { schema: { tags, summary: 'Get a sequence with its steps (ordered by position)', params: IdParams, response: { 200: SequenceWithSteps, ...errorResponses(401, 404) } } },
    async (request) => sequences.get(request.principal, request.params.id),
  );

  app.patch(
    '/v1/bulk/sequences/:id',
    {
      schema: {
        tags,
        summary: 'Rename, activate, return to draft or archive',
        description: PATCH_DESCRIPTION,
        params: IdParams,
        body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), status: Type.Optional(SequenceStatusSchema) }, { additionalProperties: false, minProperties: 1 }),
        response: { 200: SequenceWithSteps, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => sequences.update(request.principal, request.params.id, request.body),
  );

  app.delete(
    '/v1/bulk/sequences/:id',
    {
      schema: {
        tags,
        summary: 'Delete a sequence (409 while it has active or paused subscribers)',
        description: 'Its steps and its completed or cancelled subscriptions go with it; the messages already sent stay in the message log.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      await sequences.remove(request.principal, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/bulk/sequences/:id/steps',
    {
      schema: {
        tags,
        summary: 'Add a step (honours Idempotency-Key)',
        description: STEP_DESCRIPTION,
        params: IdParams,
        body: Type.Object({ position, offset_seconds: offsetSeconds, ...stepFields }, { additionalProperties: false }),
        response: { 201: Step, ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
      },
      preValidation: headerFields,
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'sequence.step.create', payload: { id: request.params.id, ...request.body } }, async () => ({
        status: 201,
        headers: {},
        body: await sequences.addStep(request.principal, request.params.id, request.body),
      })),
  );

  app.patch(
    '/v1/bulk/sequences/:id/steps/:step_id',
    {
      schema: {
        tags,
        summary: 'Edit a step (content, sender, offset_seconds); only sends still to come see it',
        description: `Accepts the optional fields of the POST (null clears one) and \`offset_seconds\`. The position is fixed: to move a step, delete it and add it at the new position. A step already sent is never sent again; subscribers still waiting for this step are re-timed when \`offset_seconds\` changes. The content rules and the 403 \`from_not_allowed\` of the POST apply to the result.`,
        params: StepParams,
        body: Type.Object({ offset_seconds: Type.Optional(offsetSeconds), ...stepFields }, { additionalProperties: false, minProperties: 1 }),
        response: { 200: Step, ...errorResponses(400, 401, 403, 404) },
      },
      preValidation: headerFields,
    },
    async (request) => sequences.updateStep(request.principal, request.params.id, request.params.step_id, request.body),
  );

  app.delete(
    '/v1/bulk/sequences/:id/steps/:step_id',
    {
      schema: {
        tags,
        summary: 'Delete a step',
        description: 'Subscribers waiting for it move on to the following step, timed from the same base (started_at, or the send of their previous step). Steps already sent are unaffected.',
        params: StepParams,
        response: { 204: Type.Null(), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      await sequences.removeStep(request.principal, request.params.id, request.params.step_id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/bulk/sequences/:id/subscribers',
    {
      schema: {
        tags,
        summary: 'List subscribers (filter by status; oldest first)',
        params: IdParams,
        querystring: Type.Object({ ...PageQuery, status: Type.Optional(SubscriberStatusSchema) }),
        response: { 200: Page(Subscriber), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { limit, offset, status } = request.query;
      return { ...(await sequences.listSubscribers(request.principal, request.params.id, { limit, offset, status })), limit, offset };
    },
  );

  app.post(
    '/v1/bulk/sequences/:id/subscribers',
    {
      schema: {
        tags,
        summary: 'Subscribe a contact: 201 new, 200 already active or paused, 409 completed or cancelled (honours Idempotency-Key)',
        description: SUBSCRIBE_DESCRIPTION,
        params: IdParams,
        body: SubscribeBody,
        response: { 200: Subscriber, 201: Subscriber, ...errorResponses(400, 401, 404, 409, 415, 422) },
      },
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'sequence.subscribe', payload: { id: request.params.id, ...request.body } }, async () => {
        const { created, subscriber } = await sequences.subscribe(request.principal, request.params.id, request.body);
        return { status: created ? 201 : 200, headers: {}, body: subscriber };
      }),
  );

  app.get(
    '/v1/bulk/sequences/:id/subscribers/:email',
    {
      schema: {
        tags,
        summary: 'Subscriber status: state, current step, next send time, steps sent with their message ids',
        params: SubscriberParams,
        response: { 200: SubscriberWithSteps, ...errorResponses(401, 404) },
      },
    },
    async (request) => sequences.getSubscriber(request.principal, request.params.id, request.params.email),
  );

  app.delete(
    '/v1/bulk/sequences/:id/subscribers/:email',
    {
      schema: {
        tags,
        summary: 'Cancel the subscription (reason manual)',
        description: 'Answers 200 with the cancelled subscription and writes `sequence.cancelled` (reason `manual`). An already cancelled one is answered as it is; a completed one is a 409.',
        params: SubscriberParams,
        response: { 200: Subscriber, ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => sequences.cancelSubscriber(request.principal, request.params.id, request.params.email),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/v1/bulk/sequences/:id/subscribers/:email/${action}`,
      {
        schema: {
          tags,
          summary: action === 'pause' ? 'Pause: pending steps are held until resumed' : 'Resume: continue with the wait that remained',
          description:
            action === 'pause'
              ? 'Holds the pending steps: nothing is sent while paused; `next_due_at` keeps the due time as it stood and `paused_at` is set. Pausing a paused subscription changes nothing (200); a completed or cancelled one is a 409.'
              : RESUME_DESCRIPTION,
          params: SubscriberParams,
          response: { 200: Subscriber, ...errorResponses(401, 404, 409, 422) },
        },
      },
      async (request, reply) =>
        respondIdempotently(request, reply, { idempotency, operation: `sequence.subscriber.${action}`, payload: request.params }, async () => ({
          status: 200,
          headers: {},
          body: await (action === 'pause' ? sequences.pauseSubscriber : sequences.resumeSubscriber)(request.principal, request.params.id, request.params.email),
        })),
    );
  }
};
