import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { DomainName } from '../domains/schemas.ts';
import type { KeysService } from './service.ts';

const Key = Type.Object({
  id: Type.String({ examples: ['key_3k9x0a1b2c3d4e5f6g7h'] }),
  name: Type.String(),
  admin: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CreatedKey = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'The secret. Shown this once; only its hash is stored.' }),
  name: Type.String(),
  admin: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
});

export const keysRoutes: FastifyPluginAsyncTypebox<{ keys: KeysService }> = async (app, { keys }) => {
  app.post(
    '/v1/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'Create an API key (admin only)',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            admin: Type.Optional(Type.Boolean()),
            domains: Type.Optional(Type.Array(DomainName, { maxItems: 100, description: 'Sending domains verified by the operator\'s word.' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: CreatedKey, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { key, secret } = await keys.createKeyAs(request.principal, request.body);
      return reply.code(201).send({ id: key.id, key: secret, name: key.name, admin: key.admin, created_at: key.created_at });
    },
  );

  app.get(
    '/v1/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'List API keys (an admin sees all, another key only itself)',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(Key), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, offset } = request.query;
      const page = await keys.list(request.principal, { limit, offset });
      return { ...page, limit, offset };
    },
  );

  app.delete(
    '/v1/keys/:id',
    {
      schema: {
        tags: ['keys'],
        summary: 'Revoke an API key (admin only)',
        params: Type.Object({ id: Type.String() }),
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await keys.revoke(request.principal, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
