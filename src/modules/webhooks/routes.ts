import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { EVENT_TYPE_NAMES } from '../events/catalog.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import type { WebhooksService } from './service.ts';

const tags = ['webhooks'];
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const DateTime = Type.String({ format: 'date-time' });

const Webhook = Type.Object({
  id: Type.String({ examples: ['wh_3k9x0c1v2b3n4m5l6k7j'] }),
  key_id: Type.String(),
  url: Type.String(),
  description: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Nullable(Type.String({ description: 'Why it is disabled: 410 Gone, 5 days of failures, or the API.' })),
  disabled_at: Nullable(DateTime),
  failing_since: Nullable(Type.String({ format: 'date-time', description: 'Start of the current run of failed attempts.' })),
  previous_secret_expires_at: Nullable(Type.String({ format: 'date-time', description: 'Until then the secret before the last rotation signs too.' })),
  created_at: DateTime,
  updated_at: DateTime,
});
const WithSecret = Type.Intersect([
  Webhook,
  Type.Object({ secret: Type.Optional(Type.String({ description: 'The `whsec_…` signing secret. Shown only here (absent from an idempotent replay).' })) }),
]);

const eventsDescription = `Event types to receive; omitted or ["*"] means all; a family such as "message.*" means every type of it. Types: ${EVENT_TYPE_NAMES.join(', ')}.`;
const fields = {
  url: Type.String({ minLength: 1, maxLength: 2048, description: 'https URL (http only for hosts in MAILERDASH_WEBHOOK_ALLOW_HOSTS). Resolved and checked: private, loopback and link-local addresses are refused.' }),
  description: Nullable(Type.String({ maxLength: 500 })),
  events: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100, description: eventsDescription }),
  enabled: Type.Boolean(),
};

const Delivery = Type.Object({
  id: Type.String(),
  webhook_id: Type.String(),
  event_id: Type.String({ description: 'The webhook-id header of every attempt.' }),
  event_type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  last_status: Nullable(Type.Integer({ description: 'HTTP status of the last attempt (null: no response).' })),
  last_error: Nullable(Type.String()),
  last_body: Nullable(Type.String({ description: 'The first 1 KB of the last response body.' })),
  next_attempt_at: Nullable(DateTime),
  last_attempt_at: Nullable(DateTime),
  delivered_at: Nullable(DateTime),
  created_at: DateTime,
});

const Id = Type.Object({ id: Type.String({ maxLength: 100 }) });

const description = `Deliveries: each event goes to each subscribed, enabled endpoint of its key, signed per Standard Webhooks.
A 2xx is success; anything else (a redirect included, never followed) is retried with exponential backoff and jitter for more than 24 h
(5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, each ±10 %). A 410 disables the endpoint at once, and so do 5 days in which every attempt failed.
While disabled an endpoint gets no new events; its pending deliveries wait and resume when it is enabled again. Order: an endpoint's deliveries
are taken in event order, up to MAILERDASH_WEBHOOK_CONCURRENCY at once, and a retry goes later, so order by the body's timestamp.
An event may arrive twice after a crash: de-duplicate by webhook-id.`;

export const webhooksRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhooksService; idempotency: IdempotencyService }> = async (app, { webhooks, idempotency }) => {
  app.get(
    '/v1/webhooks',
    {
      schema: {
        tags,
        summary: 'List webhook endpoints',
        description,
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Webhook), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id } = request.query;
      return { ...(await webhooks.list(readScope(request, key_id), { limit, offset })), limit, offset };
    },
  );

  app.post(
    '/v1/webhooks',
    {
      schema: {
        tags,
        summary: 'Create a webhook endpoint (the secret is shown once)',
        description: `${description}\n\nWith Idempotency-Key, a replay answers the endpoint without its secret (it is never stored readable); rotate it if it was lost.`,
        body: Type.Object({ url: fields.url, description: Type.Optional(fields.description), events: Type.Optional(fields.events), enabled: Type.Optional(fields.enabled) }, { additionalProperties: false }),
        response: { 201: WithSecret, ...errorResponses(400, 401, 409, 415, 422) },
      },
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'webhook.create', payload: request.body }, async (claim) => {
        const { secret, ...endpoint } = await webhooks.create(request.principal, request.body);
        await claim?.complete({ status: 201, headers: {}, body: endpoint });
        return { status: 201, headers: {}, body: { ...endpoint, secret } };
      }),
  );

  app.get('/v1/webhooks/:id', { schema: { tags, summary: 'Get a webhook endpoint, with why and since when it is disabled', params: Id, response: { 200: Webhook, ...errorResponses(401, 404) } } }, async (request) =>
    webhooks.get(request.principal, request.params.id),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Change an endpoint; enabled:true re-enables it and resumes its pending deliveries',
        params: Id,
        body: Type.Partial(Type.Object(fields), { additionalProperties: false, minProperties: 1 }),
        response: { 200: Webhook, ...errorResponses(400, 401, 404, 415) },
      },
    },
    async (request) => webhooks.update(request.principal, request.params.id, request.body),
  );

  app.delete('/v1/webhooks/:id', { schema: { tags, summary: 'Delete an endpoint and its deliveries', params: Id, response: { 204: Type.Null(), ...errorResponses(401, 404) } } }, async (request, reply) => {
    await webhooks.remove(request.principal, request.params.id);
    return reply.code(204).send(null);
  });

  app.post(
    '/v1/webhooks/:id/rotate-secret',
    { schema: { tags, summary: 'A new signing secret (shown once); the old one keeps signing beside it for 24 h', params: Id, response: { 200: WithSecret, ...errorResponses(401, 404) } } },
    async (request) => webhooks.rotateSecret(request.principal, request.params.id),
  );

  app.post(
    '/v1/webhooks/:id/test',
    {
      schema: {
        tags,
        summary: 'Send a webhook.test event to this endpoint',
        params: Id,
        response: { 202: Type.Object({ event_id: Type.String(), delivery_id: Type.String() }), ...errorResponses(401, 404, 409, 422) },
      },
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'webhook.test', payload: { id: request.params.id } }, async () => ({
        status: 202,
        headers: {},
        body: await webhooks.sendTest(request.principal, request.params.id),
      })),
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      schema: {
        tags,
        summary: "An endpoint's deliveries, newest event first",
        params: Id,
        querystring: Type.Object({
          ...PageQuery,
          status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')])),
          event_type: Type.Optional(Type.String({ maxLength: 100 })),
        }),
        response: { 200: Page(Delivery), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { limit, offset, status, event_type } = request.query;
      return { ...(await webhooks.deliveries(request.principal, request.params.id, { status, event_type, limit, offset })), limit, offset };
    },
  );

  app.post(
    '/v1/webhooks/:id/deliveries/:delivery_id/retry',
    {
      schema: {
        tags,
        summary: 'Send a delivery again now (any status)',
        params: Type.Object({ id: Type.String({ maxLength: 100 }), delivery_id: Type.String({ maxLength: 100 }) }),
        response: { 202: Delivery, ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => reply.code(202).send(await webhooks.retry(request.principal, request.params.id, request.params.delivery_id)),
  );
};
