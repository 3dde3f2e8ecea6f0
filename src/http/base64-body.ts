import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { createBase64FieldScanner } from '../lib/json-base64-scanner.ts';
import { parseJsonBody } from './input-guards.ts';

export type DecodedBase64 = ReadonlyMap<string, readonly Buffer[]>;

const decodedOf = new WeakMap<FastifyRequest, DecodedBase64>();
const NONE: DecodedBase64 = new Map();

/**
 * Replaces the JSON body parser of this scope (a route plugin) with one that reads the body as it streams
 * and decodes each base64 string at `body[array][i][field]` into bytes on the way, so a large
 * attachment is held once, as bytes, and never as the request's text or a JS string. The parsed body
 * holds a short key in its place (see json-base64-scanner.ts); `decodedBase64(request)` gives the bytes
 * by key. Everything else answers as the app's own JSON parser does (same limits, same errors, the same
 * input checks), since the rest of the body is that parser's text.
 */
export function decodeBase64Fields(app: FastifyInstance, options: { array: string; field: string; pieceBytes: number }): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (request, payload, done) => {
    // As Fastify reads a body itself (content-type-parser.js rawBody): the limit before and while reading, the length after.
    const limit = request.routeOptions.bodyLimit;
    const declared = Number(request.headers['content-length']);
    if (declared > limit) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
    const scanner = createBase64FieldScanner(options);
    let received = 0;

    const finish = (error: Error | null, body?: unknown) => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onEnd);
      done(error, body);
    };
    function onData(chunk: Buffer | string) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > limit) return finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      scanner.write(bytes);
    }
    function onEnd(error?: Error & { statusCode?: number }) {
      if (error) {
        if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
        return finish(error);
      }
      if (!Number.isNaN(declared) && received !== declared) return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      let value: unknown;
      try {
        const { text, decoded } = scanner.end();
        value = parseJsonBody(text);
        decodedOf.set(request, decoded);
      } catch (parseError) {
        return finish(parseError as Error);
      }
      finish(null, value);
    }
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  });
}

/** The bytes `decodeBase64Fields` decoded from this request's body, by the key its body holds instead. */
export const decodedBase64 = (request: FastifyRequest): DecodedBase64 => decodedOf.get(request) ?? NONE;
