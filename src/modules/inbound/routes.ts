import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { forbidden } from '../../errors.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import type { InboundService } from './service.ts';

const Status = Type.Union([Type.Literal('pending'), Type.Literal('processed'), Type.Literal('unmatched'), Type.Literal('failed')]);
const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

const InboundReport = Type.Object({
  id: Type.String({ description: 'The stored mail (`inr_…`).' }),
  received_at: Type.String(),
  remote_ip: Nullable(Type.String()),
  mail_from: Nullable(Type.String()),
  rcpt_to: Type.Array(Type.String()),
  size: Type.Integer(),
  status: Status,
  form: Nullable(Type.String({ description: 'dsn, arf, text (a bounce in prose, an auto-reply), mailto.' })),
  key_id: Nullable(Type.String()),
  message_id: Nullable(Type.String()),
  result: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: 'The effect and what the report said (findings, how it was matched).' }),
  error: Nullable(Type.String()),
  attempts: Type.Integer(),
  processed_at: Nullable(Type.String()),
});

/** The operator's view of inbound mail: what could not be matched or parsed stays visible here. */
export const inboundRoutes: FastifyPluginAsyncTypebox<{ inbound: InboundService }> = async (app, { inbound }) => {
  app.addHook('onRequest', async (request) => {
    if (!request.principal.admin) throw forbidden('admin_required', 'inbound reports are for admin keys');
  });

  app.get(
    '/v1/inbound',
    {
      schema: {
        tags: ['inbound'],
        summary: 'List mail received by the inbound listener (admin)',
        description: 'Bounces, complaints and mailto unsubscribes as stored, newest first. `status=unmatched` lists reports that named no message of ours; `failed`, those that could not be processed.',
        querystring: Type.Object({ ...PageQuery, status: Type.Optional(Status) }),
        response: { 200: Page(InboundReport), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, status } = request.query;
      const page = await inbound.list({ limit, offset, ...(status ? { status } : {}) });
      return { ...page, limit, offset };
    },
  );

  app.get(
    '/v1/inbound/:id',
    {
      schema: {
        tags: ['inbound'],
        summary: 'One received mail with its raw source (admin)',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: Type.Intersect([InboundReport, Type.Object({ raw: Type.String({ description: 'The mail as received (bytes read as latin1).' }) })]), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      return inbound.get(request.params.id);
    },
  );
};
