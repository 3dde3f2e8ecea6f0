import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { DomainError } from '../../errors.ts';
import { errorResponses } from '../../http/errors.ts';
import { UI_CSP, type UiAsset } from './assets.ts';
import { CSRF_HEADER, SESSION_COOKIE, cookieValue, csrfMatches, sessionCookie, type UiSession, type UiSessions } from './session.ts';

export interface DashboardOptions {
  sessions: UiSessions;
  /** The built dashboard, or null when it was not built (an install without dev dependencies). */
  assets: Map<string, UiAsset> | null;
}

const Session = Type.Object({
  key_id: Type.String(),
  name: Type.String(),
  admin: Type.Boolean({ description: 'An admin sees every key\'s data and may pick one key with ?key_id=.' }),
  csrf_token: Type.String({ description: `Send it as ${CSRF_HEADER} on every request that changes anything.` }),
  expires_at: Type.String({ format: 'date-time' }),
});

const sessionView = (session: UiSession) => ({
  key_id: session.principal.keyId,
  name: session.principal.name,
  admin: session.principal.admin,
  csrf_token: session.csrfToken,
  expires_at: session.expiresAt.toISOString(),
});

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'same-origin');
}

/** The dashboard at /ui: its sign-in (API key for a session cookie) and its built files. */
export const dashboardRoutes: FastifyPluginAsyncTypebox<DashboardOptions> = async (app, { sessions, assets }) => {
  const secure = (request: FastifyRequest) => request.protocol === 'https';
  const current = async (request: FastifyRequest) => {
    const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
    return cookie === null ? null : sessions.read(cookie);
  };

  app.post(
    '/ui/session',
    {
      schema: {
        tags: ['dashboard'],
        summary: 'Sign in to the dashboard: an API key for an httpOnly session cookie',
        security: [],
        body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
        response: { 200: Session, ...errorResponses(400, 401, 415) },
      },
    },
    async (request, reply) => {
      const { cookie, session } = await sessions.signIn(request.body.key);
      securityHeaders(reply).header('cache-control', 'no-store');
      reply.header('set-cookie', sessionCookie(cookie, { maxAgeSeconds: sessions.ttlSeconds(), secure: secure(request) }));
      return sessionView(session);
    },
  );

  app.get(
    '/ui/session',
    {
      schema: {
        tags: ['dashboard'],
        summary: 'The signed-in dashboard session (and its CSRF token)',
        security: [],
        response: { 200: Session, ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      const session = await current(request);
      securityHeaders(reply).header('cache-control', 'no-store');
      if (!session) throw new DomainError('unauthorized', 'session_expired', 'not signed in, or the session expired');
      return sessionView(session);
    },
  );

  app.delete(
    '/ui/session',
    {
      schema: {
        tags: ['dashboard'],
        summary: 'Sign out: the session cookie is cleared',
        security: [],
        response: { 204: Type.Null(), ...errorResponses(403) },
      },
    },
    async (request, reply) => {
      const session = await current(request);
      // A live session ends only on its own page's request; an expired one is just cleared.
      if (session && !csrfMatches(session, request.headers[CSRF_HEADER])) {
        throw new DomainError('forbidden', 'csrf_token_invalid', `signing out needs the session's CSRF token in ${CSRF_HEADER}`);
      }
      securityHeaders(reply).header('cache-control', 'no-store');
      reply.header('set-cookie', sessionCookie('', { maxAgeSeconds: 0, secure: secure(request) }));
      return reply.code(204).send(null);
    },
  );

  const serve = (request: FastifyRequest, reply: FastifyReply, file: string) => {
    securityHeaders(reply);
    if (!assets) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The dashboard is not built. Run `npm run build` (it needs the dev dependencies) and restart.\n');
    }
    // Unknown paths are the single page's own routes; a missing hashed file is a real 404.
    const asset = assets.get(file) ?? (file.startsWith('assets/') ? undefined : assets.get('index.html'));
    if (!asset) throw new DomainError('not_found', 'not_found', 'no such dashboard file');
    reply
      .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('etag', asset.etag)
      .header('vary', 'accept-encoding')
      .type(asset.contentType);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    const gzip = asset.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? asset.gzip : asset.body);
  };

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui', { schema: { hide: true } }, async (request, reply) => serve(request, reply, 'index.html'));
  app.get('/ui/*', { schema: { hide: true } }, async (request, reply) => {
    const file = (request.params as { '*': string })['*'];
    return serve(request, reply, file === '' ? 'index.html' : file);
  });
};
