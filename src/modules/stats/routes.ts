import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readScope } from '../../http/auth.ts';
import { errorResponses } from '../../http/errors.ts';
import { MAX_POINTS } from './series.ts';
import type { StatsService } from './service.ts';

const counters = {
  sent: Type.Integer({ description: 'Accepted by the next hop (relay, receiving server or provider).' }),
  delivered: Type.Integer({ description: 'Confirmed delivered by a provider event or a success DSN.' }),
  bounced: Type.Integer({ description: 'Permanent failures for the recipient, at send time or reported later.' }),
  complained: Type.Integer(),
  opened: Type.Integer({ description: 'First opens (unique per message).' }),
  clicked: Type.Integer({ description: 'First clicks (unique per message).' }),
  unsubscribed: Type.Integer(),
  failed: Type.Integer({ description: 'Given up: retries ran out, or a failure that is not the recipient\'s.' }),
};
const Counters = Type.Object(counters);

const Series = Type.Object({
  from: Type.String({ format: 'date-time', description: 'The start of the first interval (from, down to a whole interval, UTC).' }),
  to: Type.String({ format: 'date-time', description: 'The end of the last interval (to, up to a whole interval).' }),
  interval: Type.Union([Type.Literal('hour'), Type.Literal('day')]),
  channel: Type.Union([Type.Literal('transactional'), Type.Literal('bulk'), Type.Null()]),
  totals: Counters,
  series: Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), ...counters }), { description: 'One point per interval in [from, to), zero-filled.' }),
});

const ScopeStats = (idField: 'batch_id' | 'sequence_id') =>
  Type.Object({ [idField]: Type.String(), ...counters, deferred: Type.Integer({ description: 'Temporary failures (each retry counted).' }), dropped: Type.Integer() });

const Id = Type.Object({ id: Type.String() });

export const statsRoutes: FastifyPluginAsyncTypebox<{ stats: StatsService }> = async (app, { stats }) => {
  app.get(
    '/v1/stats',
    {
      schema: {
        tags: ['stats'],
        summary: 'Totals and a time series of message events, from the aggregates (they outlive the message log)',
        description: `Scoped to the key; an admin key sees every key's (or one with ?key_id=). At most ${MAX_POINTS} points: a longer range is a 400 range_too_large; from not before to is a 400 invalid_range.`,
        querystring: Type.Object({
          from: Type.Optional(Type.String({ format: 'date-time', description: 'Default: 24 hours (interval=hour) or 30 days (day) before to.' })),
          to: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now.' })),
          interval: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')], { default: 'day' })),
          channel: Type.Optional(Type.Union([Type.Literal('transactional'), Type.Literal('bulk')], { description: 'Default: both.' })),
          key_id: Type.Optional(Type.String({ description: 'Admin only.' })),
        }),
        response: { 200: Series, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { key_id: keyId, ...query } = request.query;
      return stats.series(readScope(request, keyId), query);
    },
  );
  app.get(
    '/v1/batches/:id/stats',
    { schema: { tags: ['batches'], summary: "The batch's event counts over its life, from the aggregates", params: Id, response: { 200: ScopeStats('batch_id'), ...errorResponses(401, 404) } } },
    async (request) => stats.ofScope(request.principal, 'batch', request.params.id),
  );
  app.get(
    '/v1/bulk/sequences/:id/stats',
    { schema: { tags: ['sequences'], summary: "The sequence's event counts over its life, from the aggregates", params: Id, response: { 200: ScopeStats('sequence_id'), ...errorResponses(401, 404) } } },
    async (request) => stats.ofScope(request.principal, 'sequence', request.params.id),
  );
};
