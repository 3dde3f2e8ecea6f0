import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { invalid } from '../../errors.ts';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import { BatchAccepted, BatchBody, BatchView, Decision } from './schemas.ts';
import type { BatchesService } from './service.ts';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const MAX_IDEMPOTENCY_KEY = 255;

const SUBMIT_DESCRIPTION = `Up to 100,000 recipients in one call. The body is read as a stream (never held whole).
**Pre-check before anything is queued**, per recipient, counted and listed, never failing the batch: invalid syntax
(\`invalid_syntax\`), disposable domain (\`disposable_domain\`), MX (\`no_mx\`, as /v1/mail/send; a DNS timeout is no
verdict), suppressed for the channel (\`suppressed_<reason>\`), contact bounced/complained/unsubscribed (\`contact_<status>\`),
duplicate address (\`duplicate\`), and an \`idempotency_key\` this key used in another batch within 24 h
(\`duplicate_idempotency_key\`). Acceptance is atomic: all accepted recipients or none.
\`Idempotency-Key\`: a retry with the same key and the same body bytes answers the first response
(\`Idempotent-Replayed: true\`); another body 422; while the first is still running 409.
\`provider_policy\` names providers of MAILERDASH_PROVIDERS (unknown: 400 \`unknown_provider\`).`;

export const batchesRoutes: FastifyPluginAsyncTypebox<{ batches: BatchesService }> = async (app, { batches }) => {
  // Only in this plugin: JSON bodies reach the handler as the raw stream, parsed incrementally by the service.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (_request, payload, done) => done(null, payload));

  app.post(
    '/v1/batches',
    {
      schema: {
        tags: ['batches'],
        summary: 'Submit a batch',
        description: SUBMIT_DESCRIPTION,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY })) }),
        body: BatchBody,
        response: { 202: BatchAccepted, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
      },
      // The body schema documents the request; the stream parser checks it recipient by recipient.
      validatorCompiler: ({ httpPart }) => (httpPart === 'body' ? () => true : (() => true)),
    },
    async (request, reply) => {
      const header = request.headers['idempotency-key'];
      const idemKey = (Array.isArray(header) ? header[0] : header) ?? null;
      if (idemKey !== null && (!idemKey.trim() || idemKey.length > MAX_IDEMPOTENCY_KEY)) {
        throw invalid('invalid_idempotency_key', `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY} characters`, 'Idempotency-Key');
      }
      if (!request.body || typeof (request.body as unknown as Readable).pipe !== 'function') throw invalid('invalid_body', 'a JSON body is required');
      const response = await batches.submit(request.principal, request.body as unknown as Readable, idemKey);
      for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
      return reply.code(response.status as 202).send(response.body as never);
    },
  );
};

export const batchReadRoutes: FastifyPluginAsyncTypebox<{ batches: BatchesService }> = async (app, { batches }) => {
  app.get(
    '/v1/batches',
    {
      schema: {
        tags: ['batches'],
        summary: 'List batches',
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(BatchView), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => batches.list(readScope(request, request.query.key_id), request.query),
  );

  app.get(
    '/v1/batches/:id',
    { schema: { tags: ['batches'], summary: 'A batch: status and live counts by message state', params: IdParams, response: { 200: BatchView, ...errorResponses(401, 404) } } },
    async (request) => batches.get(request.principal, request.params.id),
  );

  for (const [action, summary] of [
    ['cancel', 'Cancel: drops every message not yet handed to a provider'],
    ['approve', 'Approve a batch held after its canary (awaiting_approval)'],
    ['retry-failed', 'Queue the finally failed recipients again (never bounced, dropped or sent ones)'],
  ] as const) {
    app.post(
      `/v1/batches/:id/${action}`,
      {
        schema: {
          tags: ['batches'],
          summary,
          params: IdParams,
          response: { 200: action === 'retry-failed' ? Type.Intersect([BatchView, Type.Object({ retried: Type.Integer() })]) : BatchView, ...errorResponses(401, 404, 409) },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (action === 'cancel') return batches.cancel(request.principal, id);
        if (action === 'approve') return batches.approve(request.principal, id);
        return batches.retryFailed(request.principal, id);
      },
    );
  }

  app.get(
    '/v1/batches/:id/decisions',
    {
      schema: {
        tags: ['batches'],
        summary: "The batch's routing decision log",
        description: 'Which provider, why (primary, weight, failover after which error, cap_reached), when, and for how many messages; consecutive identical decisions are one entry with a count.',
        params: IdParams,
        response: { 200: Type.Object({ data: Type.Array(Decision) }), ...errorResponses(401, 404) },
      },
    },
    async (request) => batches.decisions(request.principal, request.params.id),
  );

  app.get(
    '/v1/batches/:id/recipients',
    {
      schema: {
        tags: ['batches'],
        summary: "Every recipient's outcome (CSV or NDJSON, streamed)",
        description: 'Columns: index, email, status (rejected or the message state), rejection_reason, provider, provider_message_id (its id at the email service provider), message_id, smtp_reply, accepted_at, sent_at, updated_at. CSV cells that a spreadsheet would read as a formula are prefixed with an apostrophe.',
        params: IdParams,
        querystring: Type.Object({ format: Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { default: 'csv' }) }),
        response: errorResponses(400, 401, 404),
      },
    },
    async (request, reply) => {
      const batch = await batches.owned(request.principal, request.params.id);
      const { format } = request.query;
      reply.header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
      reply.header('content-disposition', `attachment; filename="${batch.id}.${format}"`);
      return reply.send(batches.exportStream(batch.id, format) as never);
    },
  );

  app.get(
    '/v1/batches/:id/events',
    {
      schema: {
        tags: ['batches'],
        summary: 'Server-Sent Events: batch.progress, then batch.completed',
        description: 'batch.progress at most once a second and on every status change; the stream ends after batch.completed. Each event has a numeric id; reconnecting with Last-Event-ID resumes after it.',
        params: IdParams,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^\\d{1,9}$' })) }),
        response: errorResponses(400, 401, 404),
      },
    },
    async (request, reply) => {
      const batch = await batches.owned(request.principal, request.params.id);
      const after = Number(request.headers['last-event-id'] ?? 0);
      reply.hijack();
      await batches.streamProgress(batch.id, after, reply.raw, request.raw);
    },
  );
};
