import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { Domain, DomainName } from './schemas.ts';
import type { DomainsService } from './service.ts';

const DomainParams = Type.Object({ domain: DomainName });

export const domainsRoutes: FastifyPluginAsyncTypebox<{ domains: DomainsService }> = async (app, { domains }) => {
  app.post(
    '/v1/domains',
    {
      schema: {
        tags: ['domains'],
        summary: 'Add a sending domain; answers the DNS records to publish',
        body: Type.Object({ domain: DomainName }, { additionalProperties: false }),
        response: { 201: Domain, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await domains.add(request.principal, request.body.domain)),
  );

  app.get(
    '/v1/domains',
    {
      schema: {
        tags: ['domains'],
        summary: 'List sending domains',
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Domain), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id } = request.query;
      const page = await domains.list(readScope(request, key_id), { limit, offset });
      return { ...page, limit, offset };
    },
  );

  app.get(
    '/v1/domains/:domain',
    { schema: { tags: ['domains'], summary: 'Get a sending domain', params: DomainParams, response: { 200: Domain, ...errorResponses(401, 404) } } },
    async (request) => domains.get(request.principal, request.params.domain),
  );

  app.post(
    '/v1/domains/:domain/verify',
    {
      schema: {
        tags: ['domains'],
        summary: 'Check the domain\'s DNS records through the configured resolver',
        params: DomainParams,
        response: { 200: Domain, ...errorResponses(401, 404) },
      },
    },
    async (request) => domains.verify(request.principal, request.params.domain),
  );

  app.delete(
    '/v1/domains/:domain',
    { schema: { tags: ['domains'], summary: 'Remove a sending domain', params: DomainParams, response: { 204: Type.Null(), ...errorResponses(401, 404) } } },
    async (request, reply) => {
      await domains.remove(request.principal, request.params.domain);
      return reply.code(204).send(null);
    },
  );
};
