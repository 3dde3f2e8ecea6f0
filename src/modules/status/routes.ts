import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { forbidden } from '../../errors.ts';
import { errorResponses } from '../../http/errors.ts';
import type { StatusService } from './service.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const StatusBody = Type.Object({
  checked_at: Type.String(),
  default_provider: Type.String(),
  transports: Type.Array(Type.Object({ provider: Type.String(), type: Type.String(), reachable: Nullable(Type.Boolean()), detail: Type.String() })),
  queue: Type.Array(
    Type.Object({
      channel: Type.String(),
      due: Type.Integer(),
      waiting: Type.Integer(),
      leased: Type.Integer({ description: 'Claimed by a live sender.' }),
      lapsed: Type.Integer({ description: 'Claimed by a sender whose lease lapsed (taken over on the next claim).' }),
      oldest_due_seconds: Nullable(Type.Number()),
    }),
  ),
  campaigns: Type.Array(Type.Object({ id: Type.String(), recipients: Type.Integer(), pending: Type.Integer(), sent: Type.Integer(), failed: Type.Integer() })),
  setup: Type.Array(
    Type.Object({ code: Type.String(), variable: Type.String(), severity: Type.String(), message: Type.String(), fix: Type.String() }),
  ),
});

export const statusRoutes: FastifyPluginAsyncTypebox<{ status: StatusService }> = async (app, { status }) => {
  app.get(
    '/v1/status',
    {
      schema: {
        tags: ['health'],
        summary: 'Every transport\'s reachability, the queue and its leases, campaigns in progress and the setup checks (admin only)',
        description: '/readyz is about this process (its database); this is about whether mail can go out.',
        response: { 200: StatusBody, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      if (!request.principal.admin) throw forbidden('admin_required', 'the status is for admin keys');
      return status.status();
    },
  );
};
