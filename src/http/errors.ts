import type { FastifyError, FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { DomainError, type ErrorDetail, type ErrorKind } from '../errors.ts';

const STATUS_OF: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_mismatch: 422,
  too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
};

export const ErrorEnvelope = Type.Object(
  {
    errors: Type.Array(
      Type.Object({
        message: Type.String(),
        field: Type.Union([Type.String(), Type.Null()]),
        code: Type.String(),
      }),
    ),
  },
  { description: 'Every response with a status of 400 or more.' },
);

/** Response schemas for the error statuses a route can answer, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorEnvelope> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorEnvelope]));
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

function dotted(instancePath: string, extra?: unknown): string | null {
  const parts = instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (typeof extra === 'string') parts.push(extra);
  return parts.length ? parts.join('.') : null;
}

export function validationDetails(errors: AjvError[]): ErrorDetail[] {
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const e of errors) {
    let detail: ErrorDetail;
    if (e.keyword === 'required') {
      const field = dotted(e.instancePath, e.params.missingProperty);
      detail = { field, code: 'required', message: `${field} is required` };
    } else if (e.keyword === 'additionalProperties') {
      const field = dotted(e.instancePath, e.params.additionalProperty);
      detail = { field, code: 'unsupported_field', message: `${field} is not a supported field` };
    } else if (e.keyword === 'format' && e.params.format === 'email') {
      const field = dotted(e.instancePath);
      detail = { field, code: 'invalid_email', message: `${field} is not a valid email address` };
    } else if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      continue; // the branch errors around it say more
    } else {
      const field = dotted(e.instancePath);
      detail = { field, code: 'invalid_value', message: `${field ?? 'body'} ${e.message ?? 'is invalid'}` };
    }
    const id = `${detail.field}|${detail.code}`;
    if (!seen.has(id)) {
      seen.add(id);
      details.push(detail);
    }
  }
  return details.length ? details : [{ field: null, code: 'invalid_value', message: 'request is invalid' }];
}

const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
};

/** PostgreSQL 22021 character_not_in_repertoire (a NUL in text or jsonb) and 22P05 untranslatable_character. */
const UNSTORABLE_CHARACTER = new Set(['22021', '22P05']);

export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ errors: [{ message: `no route ${request.method} ${request.url.split('?')[0]}`, field: null, code: 'route_not_found' }] });
  });

  app.setErrorHandler((error: FastifyError & { validation?: AjvError[] }, request, reply) => {
    if (error instanceof DomainError) {
      if (error.retryAfter !== undefined || error.kind === 'rate_limited') reply.header('retry-after', String(error.retryAfter ?? 1));
      return reply.code(STATUS_OF[error.kind]).send({ errors: error.details });
    }
    if (error.validation) {
      return reply.code(400).send({ errors: validationDetails(error.validation) });
    }
    // Last line of defence: a character PostgreSQL cannot store (a NUL) that got past the input guards.
    if (UNSTORABLE_CHARACTER.has(error.code)) {
      request.log.warn({ err: error }, 'a character the database cannot store got past the input guards');
      return reply.code(400).send({ errors: [{ message: 'the request contains a character that cannot be stored (such as U+0000)', field: null, code: 'invalid_characters' }] });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = FRAMEWORK_CODES[error.code] ?? (SyntaxError.prototype.isPrototypeOf(error) ? 'invalid_json' : 'bad_request');
      return reply.code(status).send({ errors: [{ message: error.message, field: null, code }] });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ errors: [{ message: 'internal error', field: null, code: 'internal' }] });
  });
}
