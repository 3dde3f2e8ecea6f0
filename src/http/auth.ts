import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError, forbidden } from '../errors.ts';
import type { KeysService, Principal } from '../modules/keys/service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The calling API key; set on every route registered under requireApiKey. */
    principal: Principal;
  }
}

/** Every route registered on `scope` after this needs `Authorization: Bearer <key>`. */
export function requireApiKey(scope: FastifyInstance, keys: KeysService): void {
  scope.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
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
