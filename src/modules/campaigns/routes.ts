import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { refuseLineBreaks } from '../../http/input-guards.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import type { CampaignsService } from './service.ts';

const Status = Type.Union([Type.Literal('draft'), Type.Literal('send'), Type.Literal('paused'), Type.Literal('cancelled'), Type.Literal('sent')], {
  description: 'draft (editable) -> send (queued for dispatch; waits for send_at when set) -> sent (every contact processed). paused and cancelled beyond the seed.',
});
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const Campaign = Type.Object({
  id: Type.String(),
  key_id: Type.String(),
  name: Type.String(),
  list_id: Type.String(),
  template_id: Type.String(),
  from_email: Type.String(),
  from_name: Nullable(Type.String()),
  reply_to: Nullable(Type.String()),
  subject: Nullable(Type.String({ description: "Overrides the template's subject." })),
  tracking: Type.Boolean({ description: 'Open pixel and click tracking.' }),
  status: Status,
  send_at: Nullable(Type.String()),
  started_at: Nullable(Type.String()),
  sent_at: Nullable(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});

const editable = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  list_id: Type.String({ minLength: 1, maxLength: 100 }),
  template_id: Type.String({ minLength: 1, maxLength: 100 }),
  from_email: Type.String({ format: 'email', maxLength: 320 }),
  from_name: Nullable(Type.String({ maxLength: 200 })),
  reply_to: Nullable(Type.String({ format: 'email', maxLength: 320 })),
  subject: Nullable(Type.String({ minLength: 1, maxLength: 998 })),
  send_at: Nullable(Type.String({ format: 'date-time', description: 'Dispatch no earlier than this (ISO 8601).' })),
  tracking: Type.Boolean(),
};

const Stats = Type.Object({
  campaign_id: Type.String(),
  status: Status,
  recipients: Type.Integer({ description: 'Messages made for list members.' }),
  pending: Type.Integer({ description: 'Not final yet (queued, sending, deferred).' }),
  sent: Type.Integer(),
  delivered: Type.Integer({ description: 'Where the receiving side confirmed it (provider event or DSN).' }),
  bounced: Type.Integer(),
  complained: Type.Integer(),
  opened: Type.Integer({ description: 'Unique: messages opened at least once.' }),
  clicked: Type.Integer({ description: 'Unique: messages clicked at least once.' }),
  unsubscribed: Type.Integer(),
  skipped_suppressed: Type.Integer({ description: 'Members skipped at dispatch: bounced, complained, unsubscribed or on the suppression list.' }),
  dropped: Type.Integer({ description: 'Suppressed between dispatch and send, or cancelled before sending.' }),
  failed: Type.Integer(),
  dispatch_complete: Type.Boolean(),
});

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
/** Fields written into mail headers: no CR or LF (400 invalid_header_value), as in /v1/mail/send. */
const headerFields = refuseLineBreaks(['from_email', 'from_name', 'reply_to', 'subject']);
const tags = ['campaigns'];

const LocalLinksQuery = Type.Object({
  allow_local_links: Type.Optional(
    Type.Boolean({ description: 'Send even though MAILERDASH_PUBLIC_URL is a localhost address (its links reach no recipient); without it such a send is a 409 local_links.' }),
  ),
});

export const campaignsRoutes: FastifyPluginAsyncTypebox<{ campaigns: CampaignsService; idempotency: IdempotencyService }> = async (app, { campaigns, idempotency }) => {
  app.get(
    '/v1/bulk/campaigns',
    {
      schema: {
        tags,
        summary: 'List campaigns',
        querystring: Type.Object({ ...PageQuery, status: Type.Optional(Status), key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Campaign), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id, status } = request.query;
      const page = await campaigns.list(readScope(request, key_id), { limit, offset, ...(status ? { status } : {}) });
      return { ...page, limit, offset };
    },
  );

  app.post(
    '/v1/bulk/campaigns',
    {
      schema: {
        tags,
        summary: 'Create a draft campaign of a template to a list (honours Idempotency-Key)',
        body: Type.Object(
          {
            name: editable.name,
            list_id: editable.list_id,
            template_id: editable.template_id,
            from_email: editable.from_email,
            from_name: Type.Optional(editable.from_name),
            reply_to: Type.Optional(editable.reply_to),
            subject: Type.Optional(editable.subject),
            send_at: Type.Optional(editable.send_at),
            tracking: Type.Optional(editable.tracking),
          },
          { additionalProperties: false },
        ),
        response: { 201: Campaign, ...errorResponses(400, 401, 403, 409, 422) },
      },
      preValidation: headerFields,
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'campaign.create', payload: request.body }, async () => ({
        status: 201,
        headers: {},
        body: await campaigns.create(request.principal, request.body),
      })),
  );

  app.get('/v1/bulk/campaigns/:id', { schema: { tags, summary: 'Get a campaign', params: Id, response: { 200: Campaign, ...errorResponses(401, 404) } } }, async (request) =>
    campaigns.get(request.principal, request.params.id),
  );

  app.patch(
    '/v1/bulk/campaigns/:id',
    {
      schema: {
        tags,
        summary: 'Edit a draft; {"status":"send"} queues it for dispatch (also paused, cancelled)',
        params: Id,
        querystring: LocalLinksQuery,
        body: Type.Object(
          {
            name: Type.Optional(editable.name),
            list_id: Type.Optional(editable.list_id),
            template_id: Type.Optional(editable.template_id),
            from_email: Type.Optional(editable.from_email),
            from_name: Type.Optional(editable.from_name),
            reply_to: Type.Optional(editable.reply_to),
            subject: Type.Optional(editable.subject),
            send_at: Type.Optional(editable.send_at),
            tracking: Type.Optional(editable.tracking),
            status: Type.Optional(Type.Union([Type.Literal('send'), Type.Literal('paused'), Type.Literal('cancelled')])),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Campaign, ...errorResponses(400, 401, 403, 404, 409) },
      },
      preValidation: headerFields,
    },
    async (request) => campaigns.update(request.principal, request.params.id, request.body, { allowLocalLinks: request.query.allow_local_links }),
  );

  app.delete(
    '/v1/bulk/campaigns/:id',
    { schema: { tags, summary: 'Delete a draft campaign', params: Id, response: { 204: Type.Null(), ...errorResponses(401, 404, 409) } } },
    async (request, reply) => {
      await campaigns.remove(request.principal, request.params.id);
      return reply.code(204).send(null);
    },
  );

  for (const action of ['send', 'pause', 'resume', 'cancel'] as const) {
    app.post(
      `/v1/bulk/campaigns/:id/${action}`,
      {
        schema: {
          tags,
          summary: {
            send: 'Queue a draft for dispatch (at send_at when set)',
            pause: 'Pause a sending campaign (dispatch and queued sends wait)',
            resume: 'Resume a paused campaign',
            cancel: 'Cancel: nothing more is sent',
          }[action],
          params: Id,
          ...(action === 'send' ? { querystring: LocalLinksQuery } : {}),
          response: { 200: Campaign, ...errorResponses(401, 403, 404, 409, 422) },
        },
      },
      async (request, reply) =>
        respondIdempotently(request, reply, { idempotency, operation: `campaign.${action}`, payload: { id: request.params.id } }, async () => ({
          status: 200,
          headers: {},
          body: await campaigns.act(request.principal, request.params.id, action, { allowLocalLinks: (request.query as { allow_local_links?: boolean }).allow_local_links }),
        })),
    );
  }

  app.get(
    '/v1/bulk/campaigns/:id/stats',
    { schema: { tags, summary: 'Live delivery and engagement figures', params: Id, response: { 200: Stats, ...errorResponses(401, 404) } } },
    async (request) => campaigns.stats(request.principal, request.params.id),
  );
};
