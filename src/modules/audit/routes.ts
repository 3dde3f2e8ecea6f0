import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { Page, PageQuery } from '../../http/pagination.ts';
import type { AuditService } from './repo.ts';

const Entry = Type.Object({
  id: Type.Integer(),
  key_id: Type.String({ description: 'Who: the API key that made the change.' }),
  action: Type.String({ description: 'batch.created, batch.approved, batch.cancelled, batch.completed; key.created, key.revoked; domain.added, domain.verified, domain.removed; webhook.created, webhook.updated, webhook.secret_rotated, webhook.deleted; campaign.send_started, campaign.paused, campaign.resumed, campaign.cancelled.' }),
  object_type: Type.String(),
  object_id: Type.String(),
  summary: Type.Record(Type.String(), Type.Unknown()),
  at: Type.String(),
});

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditService }> = async (app, { audit }) => {
  app.get(
    '/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The change log of what touches a live sending identity (newest first)',
        description: "Scoped to the key; an admin key sees every key's entries (or one with ?key_id=).",
        querystring: Type.Object({ ...PageQuery, key_id: Type.Optional(Type.String({ description: 'Admin only.' })) }),
        response: { 200: Page(Entry), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => audit.list(readScope(request, request.query.key_id), request.query),
  );
};
