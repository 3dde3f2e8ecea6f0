/**
 * Typed domain errors. The domain says what went wrong (kind + code); only the HTTP edge
 * (src/http/errors.ts) decides which status code and envelope that becomes.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_mismatch'
  | 'too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'unavailable';

export interface ErrorDetail {
  message: string;
  field: string | null;
  code: string;
}

export class DomainError extends Error {
  readonly details: ErrorDetail[];
  /** Seconds after which a retry may succeed (answered as Retry-After); rate_limited defaults to 1. */
  retryAfter?: number;

  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    field: string | null = null,
    more: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
    this.details = [{ message, field, code }, ...more];
  }

  /** One error carrying several failing fields, e.g. every invalid recipient of a request. */
  static invalid(details: ErrorDetail[]): DomainError {
    const [first, ...rest] = details;
    if (!first) throw new Error('DomainError.invalid needs at least one detail');
    return new DomainError('invalid', first.code, first.message, first.field, rest);
  }
}

export const invalid = (code: string, message: string, field: string | null = null) =>
  new DomainError('invalid', code, message, field);
export const notFound = (what: string, field: string | null = null) =>
  new DomainError('not_found', 'not_found', `${what} not found`, field);
export const forbidden = (code: string, message: string, field: string | null = null) =>
  new DomainError('forbidden', code, message, field);
export const conflict = (code: string, message: string, field: string | null = null) =>
  new DomainError('conflict', code, message, field);
