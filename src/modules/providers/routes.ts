import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { PROVIDER_KINDS, PROVIDER_TYPES } from '../../delivery/provider-types.ts';
import type { ProvidersService } from './service.ts';

const tags = ['providers'];
const DateTime = Type.String({ format: 'date-time' });
const ProviderTypeSchema = Type.Union([Type.Literal('ses'), Type.Literal('sendgrid'), Type.Literal('mailgun'), Type.Literal('postmark')]);
const AnyObject = Type.Record(Type.String(), Type.Unknown());

const configDescription = `The provider's settings and credentials, by type (secrets are sealed at rest and never answered):
${PROVIDER_TYPES.map((type) => `- ${type}: ${Object.keys((PROVIDER_KINDS[type].schema as { properties: Record<string, unknown> }).properties).filter((f) => f !== 'type').join(', ')} (secret: ${PROVIDER_KINDS[type].secretFields.join(', ')})`).join('\n')}
A base_url is SSRF-checked like a webhook URL.`;

const Provider = Type.Object({
  id: Type.String({ examples: ['prv_3k9x0c1v2b3n4m5l6k7j'] }),
  key_id: Type.String(),
  name: Type.String(),
  type: ProviderTypeSchema,
  config: Type.Object({}, { additionalProperties: true, description: 'The configuration less its secrets.' }),
  secrets_set: Type.Array(Type.String(), { description: 'Which secret fields are set.' }),
  events_path: Type.String({ description: 'Point the provider\'s event webhook (SNS subscription for SES) at MAILERDASH_PUBLIC_URL + this path.' }),
  created_at: DateTime,
  updated_at: DateTime,
});

const Id = Type.Object({ id: Type.String({ maxLength: 100 }) });
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

export const providersRoutes: FastifyPluginAsyncTypebox<{ providers: ProvidersService }> = async (app, { providers }) => {
  app.get(
    '/v1/providers',
    {
      schema: {
        tags,
        summary: "The key's email service providers (an admin sees every key's, or one key's with key_id)",
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Provider), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id } = request.query;
      return { ...(await providers.list(readScope(request, key_id), { limit, offset })), limit, offset };
    },
  );

  app.post(
    '/v1/providers',
    {
      schema: {
        tags,
        summary: 'Attach an email service provider (SES, SendGrid, Mailgun, Postmark) to the key',
        description: configDescription,
        body: Type.Object({ name: Name, type: ProviderTypeSchema, config: AnyObject }, { additionalProperties: false }),
        response: { 201: Provider, ...errorResponses(400, 401, 409, 415, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await providers.create(request.principal, request.body)),
  );

  app.get('/v1/providers/:id', { schema: { tags, summary: 'Get a provider (never its secrets)', params: Id, response: { 200: Provider, ...errorResponses(401, 404) } } }, async (request) =>
    providers.get(request.principal, request.params.id),
  );

  app.patch(
    '/v1/providers/:id',
    {
      schema: {
        tags,
        summary: 'Change a provider: config is merged into the stored one (null removes an optional field), then validated whole',
        params: Id,
        body: Type.Object({ name: Type.Optional(Name), config: Type.Optional(AnyObject) }, { additionalProperties: false, minProperties: 1 }),
        response: { 200: Provider, ...errorResponses(400, 401, 404, 409, 415, 422) },
      },
    },
    async (request) => providers.update(request.principal, request.params.id, request.body),
  );

  app.delete('/v1/providers/:id', { schema: { tags, summary: 'Detach a provider', params: Id, response: { 204: Type.Null(), ...errorResponses(401, 404) } } }, async (request, reply) => {
    await providers.remove(request.principal, request.params.id);
    return reply.code(204).send(null);
  });

  app.post(
    '/v1/providers/:id/check',
    {
      schema: {
        tags,
        summary: 'Make a harmless authenticated call with the stored credentials',
        description: 'SES GetAccount, SendGrid GET /v3/scopes, Mailgun GET /v4/domains/{domain}, Postmark GET /server. ok:false carries what the provider answered.',
        params: Id,
        response: { 200: Type.Object({ ok: Type.Boolean(), detail: Type.String(), checked_at: DateTime }), ...errorResponses(401, 404) },
      },
    },
    async (request) => providers.check(request.principal, request.params.id),
  );
};
