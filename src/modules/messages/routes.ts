import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import type { MessagesService } from './service.ts';

const Status = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sending'),
  Type.Literal('sent'),
  Type.Literal('deferred'),
  Type.Literal('bounced'),
  Type.Literal('failed'),
  Type.Literal('dropped'),
]);
const Channel = Type.Union([Type.Literal('trans'), Type.Literal('bulk')]);
const Timestamp = Type.String({ format: 'date-time' });

const MessageEvent = Type.Object({
  type: Type.String({ description: 'queued, sending, sent, deferred, delivered, bounced, failed, dropped, opened, clicked, complained, unsubscribed' }),
  at: Timestamp,
  data: Type.Record(Type.String(), Type.Unknown()),
});

const Message = Type.Object({
  id: Type.String(),
  key_id: Type.String(),
  request_id: Type.Union([Type.String(), Type.Null()], { description: 'The X-Message-Id of the request that queued it.' }),
  status: Status,
  channel: Channel,
  to: Type.String({ description: 'The envelope recipient (domain lower-cased, in ASCII).' }),
  to_name: Type.Union([Type.String(), Type.Null()]),
  from: Type.String(),
  from_name: Type.Union([Type.String(), Type.Null()]),
  subject: Type.String(),
  attempts: Type.Integer(),
  last_response: Type.Union([Type.String(), Type.Null()], { description: 'The last SMTP reply (or transport answer).' }),
  provider: Type.Union([Type.String(), Type.Null()], { description: 'The named provider the last attempt went to (MAILERDASH_PROVIDERS).' }),
  provider_message_id: Type.Union([Type.String(), Type.Null()], {
    description: "The id the email service provider gave the accepted message (SES MessageId, SendGrid X-Message-Id, Mailgun id, Postmark MessageID); its events are matched by it.",
  }),
  created_at: Timestamp,
  due_at: Timestamp,
  sent_at: Type.Union([Timestamp, Type.Null()]),
  events: Type.Array(MessageEvent, { description: 'The timeline, oldest first.' }),
});

export const messagesRoutes: FastifyPluginAsyncTypebox<{ messages: MessagesService }> = async (app, { messages }) => {
  app.get(
    '/v1/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'List messages (one per recipient), newest first, each with its event timeline',
        querystring: Type.Object({
          ...PageQuery,
          status: Type.Optional(Status),
          channel: Type.Optional(Channel),
          to: Type.Optional(Type.String({ minLength: 1, maxLength: 320, description: 'Recipient address (case-insensitive).' })),
          since: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after.' })),
          request_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The X-Message-Id of a send.' })),
          key_id: Type.Optional(Type.String({ description: 'Admin only.' })),
        }),
        response: { 200: Page(Message), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, offset, key_id, status, channel, to, since, request_id } = request.query;
      const filter = {
        keyId: readScope(request, key_id),
        ...(status ? { status } : {}),
        ...(channel ? { channel } : {}),
        ...(to ? { to } : {}),
        ...(since ? { since: new Date(since) } : {}),
        ...(request_id ? { requestId: request_id } : {}),
      };
      const page = await messages.list(filter, { limit, offset });
      return { ...page, limit, offset };
    },
  );

  app.get(
    '/v1/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'Get one message with its event timeline',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: Message, ...errorResponses(401, 404) },
      },
    },
    async (request) => messages.get(request.principal, request.params.id),
  );
};
