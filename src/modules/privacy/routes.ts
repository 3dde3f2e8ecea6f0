import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import type { PrivacyService } from './service.ts';

const Email = Type.String({ minLength: 3, maxLength: 320, description: 'The address, compared case-insensitively.' });
const KeyId = Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Admin only: the key to act for. An admin without it acts across every key that holds the address.' }));
const Tables = Type.Record(Type.String(), Type.Integer(), { description: 'Rows touched per table (deleted, pseudonymised, dropped as messages_dropped, or added to erased_suppressions).' });

export const privacyRoutes: FastifyPluginAsyncTypebox<{ privacy: PrivacyService }> = async (app, { privacy }) => {
  app.post(
    '/v1/privacy/erase',
    {
      schema: {
        tags: ['privacy'],
        summary: 'Erase an address from everything the key holds (right to erasure)',
        description:
          'Deletes the contact, its list memberships, soft bounces and plain suppression entry; drops the messages still waiting for it; ' +
          'pseudonymises (replaces by erased@erased.invalid and empties names, variables and tracking details) its messages, their events, ' +
          'subscriptions (cancelled first through the address path), batch recipients and history lines; and replaces every other mention ' +
          '(message contents and raw MIME, outbox events, webhook delivery bodies, idempotency records, inbound reports, audit entries). ' +
          'The address stays suppressed as a keyed hash only, so every later send, campaign, sequence, batch and SMTP submission to it is ' +
          'still refused. One transaction per key; recorded in the audit log (action privacy.erased) without the address. ' +
          'The owning key erases from itself; an admin names key_id, or erases across every key.',
        body: Type.Object({ email: Email, key_id: KeyId }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            id: Type.String({ description: 'era_…: the audit entry names it.' }),
            key_id: Type.Union([Type.String(), Type.Null()], { description: 'Null: across every key.' }),
            tables: Tables,
            keys: Type.Array(Type.Object({ key_id: Type.String(), tables: Tables })),
          }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => privacy.erase(request.principal, readScope(request, request.body.key_id), request.body),
  );

  app.get(
    '/v1/privacy/export',
    {
      schema: {
        tags: ['privacy'],
        summary: 'Everything held about an address, as JSON (data portability)',
        description:
          "The key's contact (with lists), suppression entry and its history, sequence subscriptions, messages (newest 10,000, each with its events), " +
          'batch recipients, soft bounces and contact history. An admin names key_id, or gets every key that holds the address (and unmatched inbound reports).',
        querystring: Type.Object({ email: Email, key_id: KeyId }),
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => privacy.export(readScope(request, request.query.key_id), request.query),
  );
};
