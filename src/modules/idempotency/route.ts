import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../../errors.ts';
import type { IdempotencyClaim, IdempotencyService, StoredResponse } from './service.ts';

const MAX_KEY_LENGTH = 255;

/**
 * Runs a POST handler under the request's `Idempotency-Key` (when it has one), for any route.
 * The handler gets the claim so it can store its response in the same transaction as its effects;
 * if it does not, the response is stored right after it returns. A failed request frees the key.
 * Only successful responses are remembered: a rejected request may be corrected and retried with the same key.
 */
export async function respondIdempotently(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { idempotency: IdempotencyService; operation: string; payload: unknown },
  handler: (claim: IdempotencyClaim | null) => Promise<StoredResponse>,
): Promise<FastifyReply> {
  const header = request.headers['idempotency-key'];
  const idemKey = Array.isArray(header) ? header[0] : header;
  if (idemKey === undefined) return send(reply, await handler(null));
  if (!idemKey.trim() || idemKey.length > MAX_KEY_LENGTH) {
    throw invalid('invalid_idempotency_key', `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} characters`, 'Idempotency-Key');
  }
  const begun = await options.idempotency.begin(request.principal.keyId, idemKey, options.operation, options.payload);
  if (begun.kind === 'replay') return send(reply.header('idempotent-replayed', 'true'), begun.response);
  const { claim } = begun;
  let response: StoredResponse;
  try {
    response = await handler(claim);
    if (!claim.completed && response.status < 300) await claim.complete(response);
  } catch (error) {
    await claim.release().catch((releaseError) => request.log.warn({ err: releaseError }, 'could not release an idempotency claim'));
    throw error;
  }
  if (response.status >= 300) await claim.release();
  return send(reply, response);
}

function send(reply: FastifyReply, response: StoredResponse): FastifyReply {
  for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
  return reply.code(response.status).send(response.body);
}
