import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError, forbidden } from '../errors.ts';
import type { KeysService, Principal } from '../modules/keys/service.ts';
import { CSRF_HEADER, SESSION_COOKIE, cookieValue, csrfMatches, type UiSessions } from '../modules/ui/session.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The calling API key; set on every route registered under requireApiKey. */
    principal: Principal;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every route registered on `scope` after this needs `Authorization: Bearer <key>`, or the dashboard's
 * session cookie. A cookie is sent by the browser on its own, so a request it authenticates that
 * changes anything must also carry the session's CSRF token in X-CSRF-Token (a cross-site page can
 * neither read the token nor set the header). The bearer key wins when both are present.
 */
export function requireApiKey(scope: FastifyInstance, keys: KeysService, sessions?: UiSessions): void {
  scope.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined && sessions) {
      const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
      if (cookie !== null) {
        const session = await sessions.read(cookie);
        if (!session) throw new DomainError('unauthorized', 'session_expired', 'the dashboard session is expired or invalid; sign in again');
        if (!SAFE_METHODS.has(request.method) && !csrfMatches(session, request.headers[CSRF_HEADER])) {
          throw forbidden('csrf_token_invalid', `a request authenticated by the session cookie must carry its CSRF token in ${CSRF_HEADER}`);
        }
        request.principal = session.principal;
        return;
      }
    }
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) {
      throw new DomainError('unauthorized', 'missing_api_key', 'Authorization: Bearer <api key> is required');
    }
    const principal = await keys.authenticate(match[1]);
    if (!principal) throw new DomainError('unauthorized', 'invalid_api_key', 'the API key is unknown or revoked');
    request.principal = principal;
  });
}

/**
 * Which key's data a read covers. An admin may pass `key_id` to look at another key (or omit it
 * to see all); anyone else sees only their own, and passing `key_id` at all is a 403.
 */
export function readScope(request: FastifyRequest, requestedKeyId: string | undefined): string | null {
  const { principal } = request;
  if (requestedKeyId === undefined) return principal.admin ? null : principal.keyId;
  if (!principal.admin) throw forbidden('admin_required', 'only an admin key can filter by key_id', 'key_id');
  return requestedKeyId;
}
