import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { refuseLineBreaks } from '../../http/input-guards.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import type { TemplatesService } from './service.ts';

const tags = ['templates'];
const Body = Type.Union([Type.String({ maxLength: 1_000_000 }), Type.Null()]);

const Template = Type.Object({
  id: Type.String({ examples: ['bienvenida-fc9674'] }),
  name: Type.String(),
  subject: Type.String(),
  html: Type.Union([Type.String(), Type.Null()]),
  body_text: Type.Union([Type.String(), Type.Null()]),
  key_id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  subject: Type.String({ minLength: 1, maxLength: 2000, description: 'Liquid: {{name}}, {{email}}, {{metadata.plan}}, per-send variables.' }),
  html: Type.Optional(Body),
  body_text: Type.Optional(Body),
};

const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
/** The subject becomes the Subject header: no CR or LF (400 invalid_header_value), as in /v1/mail/send. */
const headerFields = refuseLineBreaks(['subject']);

export const templatesRoutes: FastifyPluginAsyncTypebox<{ templates: TemplatesService; idempotency: IdempotencyService }> = async (app, { templates, idempotency }) => {
  app.get(
    '/v1/bulk/templates',
    {
      schema: {
        tags,
        summary: 'List templates',
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Template), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id } = request.query;
      return { ...(await templates.list(readScope(request, key_id), { limit, offset })), limit, offset };
    },
  );

  app.post(
    '/v1/bulk/templates',
    {
      schema: {
        tags,
        summary: 'Create a template (subject plus html and/or body_text, Liquid)',
        description: 'HTML bodies escape substituted values (use `| raw` to opt out). A Liquid syntax error is a 400 naming the field and the line.',
        body: Type.Object(fields, { additionalProperties: false }),
        response: { 201: Template, ...errorResponses(400, 401, 409, 415, 422) },
      },
      preValidation: headerFields,
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'template.create', payload: request.body }, async () => ({
        status: 201,
        headers: {},
        body: await templates.create(request.principal, request.body),
      })),
  );

  app.get(
    '/v1/bulk/templates/:id',
    { schema: { tags, summary: 'Get a template', params: IdParams, response: { 200: Template, ...errorResponses(401, 404) } } },
    async (request) => templates.get(request.principal, request.params.id),
  );

  app.patch(
    '/v1/bulk/templates/:id',
    {
      schema: {
        tags,
        summary: 'Update a template',
        params: IdParams,
        body: Type.Partial(Type.Object(fields), { additionalProperties: false }),
        response: { 200: Template, ...errorResponses(400, 401, 404, 415) },
      },
      preValidation: headerFields,
    },
    async (request) => templates.update(request.principal, request.params.id, request.body),
  );

  app.delete(
    '/v1/bulk/templates/:id',
    { schema: { tags, summary: 'Delete a template', params: IdParams, response: { 204: Type.Null(), ...errorResponses(401, 404) } } },
    async (request, reply) => {
      await templates.remove(request.principal, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/bulk/templates/:id/render',
    {
      schema: {
        tags,
        summary: 'Preview subject, html and text for given variables or one of your contacts',
        params: IdParams,
        body: Type.Object(
          {
            variables: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
            email: Type.Optional(Type.String({ maxLength: 320, description: 'Render with this contact\'s name, email and metadata.' })),
            unsubscribe_url: Type.Optional(Type.String({ maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ subject: Type.String(), html: Type.Union([Type.String(), Type.Null()]), text: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses(400, 401, 404, 415),
        },
      },
    },
    async (request) => templates.render(request.principal, request.params.id, request.body),
  );
};
