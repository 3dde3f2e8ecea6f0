import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Services } from '../composition.ts';
import { campaignsRoutes } from '../modules/campaigns/routes.ts';
import { contactsRoutes } from '../modules/contacts/routes.ts';
import { importJobsRoutes } from '../modules/imports/routes.ts';
import { domainsRoutes } from '../modules/domains/routes.ts';
import { healthRoutes } from '../modules/health/routes.ts';
import { keysRoutes } from '../modules/keys/routes.ts';
import { listsRoutes } from '../modules/lists/routes.ts';
import { messagesRoutes } from '../modules/messages/routes.ts';
import { sendRoutes } from '../modules/send/routes.ts';
import { sequencesRoutes } from '../modules/sequences/routes.ts';
import { suppressionsRoutes } from '../modules/suppressions/routes.ts';
import { trackingRoutes } from '../modules/tracking/routes.ts';
import { templatesRoutes } from '../modules/templates/routes.ts';
import { webhooksRoutes } from '../modules/webhooks/routes.ts';
import { inboundRoutes } from '../modules/inbound/routes.ts';
import { batchesRoutes, batchReadRoutes } from '../modules/batches/routes.ts';
import { privacyRoutes } from '../modules/privacy/routes.ts';
import { auditRoutes } from '../modules/audit/routes.ts';
import { providersRoutes } from '../modules/providers/routes.ts';
import { providerEventsRoutes } from '../modules/provider-events/routes.ts';
import { statusRoutes } from '../modules/status/routes.ts';
import { dashboardRoutes } from '../modules/ui/routes.ts';
import { loadUiAssets } from '../modules/ui/assets.ts';
import { openApiWebhooks } from '../modules/events/catalog.ts';
import { requireApiKey } from './auth.ts';
import { installErrorHandling } from './errors.ts';
import { statsRoutes } from '../modules/stats/routes.ts';
import { installInputGuards } from './input-guards.ts';
import { installHttpMetrics } from './metrics.ts';
import { serializersOnFirstUse, validatorOnFirstUse } from './compile-on-first-use.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export interface ApiOptions {
  services: Services;
  logger: Logger;
  metrics: Registry;
  bodyLimitBytes: number;
  ping: () => Promise<boolean>;
  /** MAILERDASH_METRICS_TOKEN: GET /metrics needs it as a bearer token. */
  metricsToken?: string | null;
}

function validator(options: ConstructorParameters<typeof Ajv>[0]) {
  return addFormats(new Ajv({ strict: false, allErrors: true, removeAdditional: false, useDefaults: true, ...options }));
}

/** Builds the HTTP API. Listening is the caller's choice, so tests use inject() on the same app. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    trustProxy: true,
    schemaController: { compilersFactory: { buildSerializer: serializersOnFirstUse } },
    // Every log line of a request carries its reqId: the caller's X-Request-Id when it sends a sane one, else a new one.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : `req_${randomUUID()}`;
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // Bodies are taken as sent (no type coercion); query strings and params are text and get coerced.
  const bodyAjv = validator({ coerceTypes: false });
  const textAjv = validator({ coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) => validatorOnFirstUse(() => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema)));

  // Only JSON unless a route scope adds its own parser (e.g. CSV import); anything else is a 415.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app);
  installInputGuards(app); // charset/encoding 415, depth, __proto__ and NUL checks before any schema
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, path: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, key: request.principal?.keyId },
      'request',
    );
  });
  installHttpMetrics(app, options.metrics, options.metricsToken ?? null);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MailerDash API',
        version: '1',
        description: 'Transactional and bulk email. Every error answers `{"errors":[{"message","field","code"}]}`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          // The dashboard's session (POST /ui/session); a mutation must also send X-CSRF-Token.
          session: { type: 'apiKey', in: 'cookie', name: 'mailerdash_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
      // Every event type's body, as receivers get it (OpenAPI 3.1 webhooks).
      webhooks: openApiWebhooks(),
    } as Record<string, unknown>,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { ping: options.ping });

  const { services } = options;
  await app.register(trackingRoutes, { tracking: services.tracking });
  await app.register(providerEventsRoutes, { events: services.providerEvents });
  await app.register(dashboardRoutes, { sessions: services.dashboard.sessions, assets: loadUiAssets(services.dashboard.assetsDir) });
  await app.register(async (authed) => {
    requireApiKey(authed, services.keys, services.dashboard.sessions);
    await authed.register(keysRoutes, { keys: services.keys });
    await authed.register(domainsRoutes, { domains: services.domains });
    await authed.register(contactsRoutes, { contacts: services.contacts, idempotency: services.idempotency, imports: services.imports });
    await authed.register(importJobsRoutes, { imports: services.imports });
    await authed.register(listsRoutes, { lists: services.lists, idempotency: services.idempotency });
    await authed.register(templatesRoutes, { templates: services.templates, idempotency: services.idempotency });
    await authed.register(sendRoutes, { send: services.send, idempotency: services.idempotency });
    await authed.register(messagesRoutes, { messages: services.messages });
    await authed.register(suppressionsRoutes, { suppressions: services.suppressions });
    await authed.register(campaignsRoutes, { campaigns: services.campaigns, idempotency: services.idempotency });
    await authed.register(sequencesRoutes, { sequences: services.sequences, idempotency: services.idempotency });
    await authed.register(webhooksRoutes, { webhooks: services.webhooks, idempotency: services.idempotency });
    await authed.register(inboundRoutes, { inbound: services.inbound });
    await authed.register(batchesRoutes, { batches: services.batches });
    await authed.register(batchReadRoutes, { batches: services.batches });
    await authed.register(auditRoutes, { audit: services.audit });
    await authed.register(providersRoutes, { providers: services.providers });
    await authed.register(statusRoutes, { status: services.status });
    await authed.register(statsRoutes, { stats: services.stats });
    await authed.register(privacyRoutes, { privacy: services.privacy });
  });

  return app;
}
