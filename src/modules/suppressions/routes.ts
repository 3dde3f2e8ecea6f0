import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import type { SuppressionsService } from './service.ts';

const Reason = Type.Union([Type.Literal('bounce'), Type.Literal('complaint'), Type.Literal('unsubscribe'), Type.Literal('manual')]);
const Email = Type.String({ format: 'email', maxLength: 320 });

const Suppression = Type.Object({
  email: Type.String(),
  key_id: Type.String(),
  reason: Reason,
  source_type: Type.String({ description: 'message, campaign, sequence, provider, api or contact' }),
  source_id: Type.Union([Type.String(), Type.Null()], { description: 'The message id, campaign id, API key or contact that caused the entry.' }),
  detail: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
});

const SuppressionWithHistory = Type.Intersect([
  Suppression,
  Type.Object({
    history: Type.Array(
      Type.Object({
        action: Type.String(),
        reason: Type.Union([Type.String(), Type.Null()]),
        source_type: Type.Union([Type.String(), Type.Null()]),
        source_id: Type.Union([Type.String(), Type.Null()]),
        at: Type.String(),
      }),
    ),
  }),
]);

const EmailParams = Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }) });

export const suppressionsRoutes: FastifyPluginAsyncTypebox<{ suppressions: SuppressionsService }> = async (app, { suppressions }) => {
  app.get(
    '/v1/suppressions',
    {
      schema: {
        tags: ['suppressions'],
        summary: "List the key's suppressed addresses",
        querystring: Type.Object({
          ...PageQuery,
          reason: Type.Optional(Reason),
          q: Type.Optional(Type.String({ maxLength: 320, description: 'Part of the address.' })),
          key_id: Type.Optional(Type.String({ description: 'Admin only.' })),
        }),
        response: { 200: Page(Suppression), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id, reason, q } = request.query;
      const page = await suppressions.list(readScope(request, key_id), { limit, offset, ...(reason ? { reason } : {}), ...(q ? { q } : {}) });
      return { ...page, limit, offset };
    },
  );

  app.post(
    '/v1/suppressions',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Suppress one or many addresses by hand (reason manual, source api)',
        body: Type.Union([
          Type.Object({ email: Email, detail: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
          Type.Object({ emails: Type.Array(Email, { minItems: 1, maxItems: 10000 }), detail: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
        ]),
        response: {
          201: Type.Object({ added: Type.Integer(), existing: Type.Integer({ description: 'Already on the list; they keep their first reason.' }), data: Type.Array(Suppression) }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const emails = 'emails' in body ? body.emails : [body.email];
      return reply.code(201).send(await suppressions.addManual(request.principal, emails, body.detail ?? null));
    },
  );

  app.get(
    '/v1/suppressions/:email',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Get one entry with its history of additions and removals',
        params: EmailParams,
        response: { 200: SuppressionWithHistory, ...errorResponses(401, 404) },
      },
    },
    async (request) => suppressions.get(request.principal, request.params.email),
  );

  app.delete(
    '/v1/suppressions/:email',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Take an address off the list (recorded; its contact becomes active again)',
        params: EmailParams,
        response: { 204: Type.Null(), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      await suppressions.remove(request.principal, request.params.email);
      return reply.code(204).send(null);
    },
  );
};
