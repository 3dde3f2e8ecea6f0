import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { Contact, ContactStatusSchema, EmailParams } from '../contacts/schemas.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import { MAX_MEMBERS_PER_REQUEST, type ListsService } from './service.ts';

const tags = ['lists'];

const Count = Type.Integer({ minimum: 0 });
const List = Type.Object({
  id: Type.String({ examples: ['newsletter-3fa9c1'] }),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  key_id: Type.String(),
  member_counts: Type.Object({ total: Count, active: Count, unsubscribed: Count, bounced: Count, complained: Count }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
};
const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

const AddMembersBody = Type.Union([
  Type.Object({ emails: Type.Array(Type.Unknown(), { maxItems: MAX_MEMBERS_PER_REQUEST }) }, { additionalProperties: false }),
  Type.Array(Type.Unknown(), { maxItems: MAX_MEMBERS_PER_REQUEST, description: 'Contact objects {email, name?, metadata?}, upserted.' }),
]);

const AddMembersResult = Type.Object({
  added: Count,
  already_member: Count,
  contacts_created: Count,
  failed: Count,
  errors: Type.Array(Type.Object({ index: Type.Integer(), email: Type.Union([Type.String(), Type.Null()]), code: Type.String(), message: Type.String() })),
});

export const listsRoutes: FastifyPluginAsyncTypebox<{ lists: ListsService; idempotency: IdempotencyService }> = async (app, { lists, idempotency }) => {
  app.get(
    '/v1/bulk/lists',
    {
      schema: {
        tags,
        summary: 'List lists with member counts by status',
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(List), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id } = request.query;
      return { ...(await lists.list(readScope(request, key_id), { limit, offset })), limit, offset };
    },
  );

  app.post(
    '/v1/bulk/lists',
    { schema: { tags, summary: 'Create a list', body: Type.Object(fields, { additionalProperties: false }), response: { 201: List, ...errorResponses(400, 401, 409, 415, 422) } } },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'list.create', payload: request.body }, async () => ({
        status: 201,
        headers: {},
        body: await lists.create(request.principal, request.body),
      })),
  );

  app.get(
    '/v1/bulk/lists/:id',
    { schema: { tags, summary: 'Get a list with member counts by status', params: IdParams, response: { 200: List, ...errorResponses(401, 404) } } },
    async (request) => lists.get(request.principal, request.params.id),
  );

  app.patch(
    '/v1/bulk/lists/:id',
    {
      schema: {
        tags,
        summary: 'Rename or describe a list',
        params: IdParams,
        body: Type.Partial(Type.Object(fields), { additionalProperties: false }),
        response: { 200: List, ...errorResponses(400, 401, 404, 415) },
      },
    },
    async (request) => lists.update(request.principal, request.params.id, request.body),
  );

  app.delete(
    '/v1/bulk/lists/:id',
    { schema: { tags, summary: 'Delete a list (its contacts stay)', params: IdParams, response: { 204: Type.Null(), ...errorResponses(401, 404) } } },
    async (request, reply) => {
      await lists.remove(request.principal, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/bulk/lists/:id/contacts',
    {
      schema: {
        tags,
        summary: 'List a list\'s members',
        params: IdParams,
        querystring: Type.Object({ ...PageQuery, status: Type.Optional(ContactStatusSchema) }),
        response: { 200: Page(Contact), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { limit, offset, status } = request.query;
      return { ...(await lists.members(request.principal, request.params.id, { status, limit, offset })), limit, offset };
    },
  );

  app.post(
    '/v1/bulk/lists/:id/contacts',
    {
      schema: {
        tags,
        summary: 'Add members by address ({"emails": [...]}) or as contact objects (upserted)',
        params: IdParams,
        body: AddMembersBody,
        response: { 207: AddMembersResult, ...errorResponses(400, 401, 404, 409, 415, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const entries = Array.isArray(body) ? body : body.emails;
      return respondIdempotently(request, reply, { idempotency, operation: 'list.add_members', payload: { id: request.params.id, body } }, async () => ({
        status: 207,
        headers: {},
        body: await lists.addMembers(request.principal, request.params.id, entries),
      }));
    },
  );

  app.delete(
    '/v1/bulk/lists/:id/contacts/:email',
    {
      schema: {
        tags,
        summary: 'Remove a member from a list (the contact stays)',
        params: Type.Object({ ...IdParams.properties, ...EmailParams.properties }),
        response: { 204: Type.Null(), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      await lists.removeMember(request.principal, request.params.id, request.params.email);
      return reply.code(204).send(null);
    },
  );
};
