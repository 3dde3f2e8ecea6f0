import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { DomainError } from '../errors.ts';
import { Counter, Histogram, collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per process, shared by the API and the workers it runs. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function installHttpMetrics(app: FastifyInstance, registry: Registry, token: string | null = null): void {
  const duration = new Histogram({
    name: 'mailerdash_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'mailerdash_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
  const expected = token === null ? null : createHash('sha256').update(`Bearer ${token}`).digest();
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (expected) {
      const given = createHash('sha256').update(request.headers.authorization ?? '').digest();
      if (!timingSafeEqual(given, expected)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        throw new DomainError('unauthorized', 'invalid_metrics_token', 'GET /metrics needs Authorization: Bearer <MAILERDASH_METRICS_TOKEN>');
      }
    }
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}
