import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Readable } from 'node:stream';
import { Type } from 'typebox';
import { invalid } from '../../errors.ts';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import { IMPORT_TYPES, limitBytes, mediaType, rowsFor } from './import-sources.ts';
import { Contact, ContactBody, ContactPatchBody, ContactStatusSchema, EmailParams, EmailsBody, EngagementSchema, ImportResultSchema } from './schemas.ts';
import type { ContactPatch, ContactsService } from './service.ts';
import { ImportJobSchema } from '../imports/routes.ts';
import type { ImportJobsService } from '../imports/service.ts';

const tags = ['contacts'];

const ListQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(ContactStatusSchema),
  q: Type.Optional(Type.String({ maxLength: 320, description: 'Substring of the email or name.' })),
  search: Type.Optional(Type.String({ maxLength: 320, description: 'Same as q.' })),
  key_id: Type.Optional(Type.String({ description: 'Admin only.' })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { description: 'csv streams every matching contact (limit and offset do not apply).' })),
});

const STREAMED_TYPES = IMPORT_TYPES;

/** ?async: absent or false is the synchronous import; true makes it a job. */
function asyncFlag(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw invalid('invalid_async', 'async is true or false', 'async');
}

export const contactsRoutes: FastifyPluginAsyncTypebox<{ contacts: ContactsService; idempotency: IdempotencyService; imports: ImportJobsService }> = async (
  app,
  { contacts, idempotency, imports },
) => {
  app.get(
    '/v1/bulk/contacts',
    {
      schema: {
        tags,
        summary: 'List, search or export (format=csv) contacts',
        querystring: ListQuery,
        response: { 200: Page(Contact), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { limit, offset, status, q, search, key_id, format } = request.query;
      const keyId = readScope(request, key_id);
      const text = q ?? search;
      if (format === 'csv') {
        const stream = contacts.exportCsv(keyId, { status, q: text });
        return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="contacts.csv"').send(stream as never); // a stream bypasses the JSON serializer
      }
      const page = await contacts.list(keyId, { status, q: text, limit, offset });
      return { ...page, limit, offset };
    },
  );

  app.post(
    '/v1/bulk/contacts',
    {
      schema: {
        tags,
        summary: 'Create a contact, or update the one with that email (never its status)',
        body: ContactBody,
        response: { 201: Contact, ...errorResponses(400, 401, 409, 415, 422) },
      },
    },
    async (request, reply) =>
      respondIdempotently(request, reply, { idempotency, operation: 'contact.upsert', payload: request.body }, async () => ({
        status: 201,
        headers: {},
        body: (await contacts.upsert(request.principal, request.body)).contact,
      })),
  );

  app.post(
    '/v1/bulk/contacts/import-preview',
    {
      schema: {
        tags,
        summary: 'How many of these addresses the key already has; changes nothing',
        body: EmailsBody,
        response: {
          200: Type.Object({ existing: Type.Array(Type.String()), total_unique: Type.Integer(), total_received: Type.Integer() }),
          ...errorResponses(400, 401, 413, 415),
        },
      },
    },
    async (request) => contacts.preview(request.principal, request.body.emails),
  );

  app.post(
    '/v1/bulk/contacts/delete',
    {
      schema: {
        tags,
        summary: 'Delete several contacts atomically',
        description: 'An address this key does not hold (including one another key holds) is listed in not_found; forbidden is always empty.',
        body: EmailsBody,
        response: {
          200: Type.Object({ requested: Type.Integer(), deleted: Type.Integer(), not_found: Type.Array(Type.String()), forbidden: Type.Array(Type.String()) }),
          ...errorResponses(400, 401, 413, 415),
        },
      },
    },
    async (request) => contacts.bulkDelete(request.principal, request.body.emails),
  );

  app.get(
    '/v1/bulk/contacts/:email',
    { schema: { tags, summary: 'Get a contact', params: EmailParams, response: { 200: Contact, ...errorResponses(401, 404) } } },
    async (request) => contacts.get(request.principal, request.params.email),
  );

  app.patch(
    '/v1/bulk/contacts/:email',
    {
      schema: {
        tags,
        summary: 'Update a contact\'s name, status or metadata',
        params: EmailParams,
        body: ContactPatchBody,
        response: { 200: Contact, ...errorResponses(400, 401, 404, 415) },
      },
    },
    async (request) => contacts.patch(request.principal, request.params.email, request.body as ContactPatch),
  );

  app.delete(
    '/v1/bulk/contacts/:email',
    { schema: { tags, summary: 'Delete a contact (and its list memberships)', params: EmailParams, response: { 204: Type.Null(), ...errorResponses(401, 404) } } },
    async (request, reply) => {
      await contacts.remove(request.principal, request.params.email);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/bulk/contacts/:email/engagement',
    { schema: { tags, summary: 'Campaigns a contact received and its engagement score', params: EmailParams, response: { 200: EngagementSchema, ...errorResponses(401, 404) } } },
    async (request) => contacts.engagement(request.principal, request.params.email),
  );

  // The import reads its body as a stream (up to a million rows), so it gets its own parsers.
  await app.register(async (scope) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser(STREAMED_TYPES, (_request, payload, done) => done(null, payload));
    scope.post(
      '/v1/bulk/contacts/import',
      {
        schema: {
          tags,
          summary: 'Import up to 1,000,000 contacts: JSON array, NDJSON or CSV (header row: email, name, other columns become metadata)',
          description: [
            'Existing contacts get the given name and metadata; their status is never changed. One bad row never fails the others. The body streams, so the general body size limit does not apply.',
            'With async=true the body is stored and the answer is 202 with an import job (GET /v1/bulk/imports/{id} shows its progress and, once completed, this same 207 result). A body that cannot be read at all is refused before the 202, changing nothing.',
            'Use async=true for large imports (over about 100,000 rows or 10 MB): the synchronous answer comes only after the last row is merged, and a dropped connection loses the work. Without it (or with async=false) the import is synchronous.',
          ].join(' '),
          consumes: STREAMED_TYPES,
          querystring: Type.Object({ async: Type.Optional(Type.Boolean({ description: 'true: run as an import job and answer 202.' })) }),
          body: Type.Array(ContactBody, { description: 'JSON: this array. NDJSON: one such object a line. CSV: a header row (email, name, other columns become metadata).' }),
          response: { 202: ImportJobSchema, 207: ImportResultSchema, ...errorResponses(400, 401, 413, 415) },
        },
        // The body is a stream checked row by row (one bad row never fails the others); the schema only documents it.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        const runAsJob = asyncFlag((request.query as { async?: unknown }).async);
        const type = mediaType(request.headers['content-type']);
        if (runAsJob) return reply.code(202).send(await imports.submit(request.principal, type, request.body as Readable));
        const rows = rowsFor(type, limitBytes(request.body as Readable));
        if (!rows) throw invalid('unsupported_media_type', `unsupported content type ${type}`);
        return reply.code(207).send(await contacts.importRows(request.principal, rows));
      },
    );
  });
};
