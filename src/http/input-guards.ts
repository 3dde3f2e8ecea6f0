import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { DomainError, invalid } from '../errors.ts';
import { MAX_JSON_DEPTH } from '../lib/json-depth.ts';
import { lineBreakErrors } from '../modules/send/rules.ts';

/**
 * Checks every request makes at the HTTP edge, before any route schema (Ajv) or service sees its input:
 * - a body in a charset other than UTF-8, or with a Content-Encoding, is a 415 (nothing here decodes either);
 * - a JSON body nested deeper than MAX_JSON_DEPTH is a 400 `too_deep` (recursive code further on,
 *   e.g. JSON.stringify, would overflow the stack on thousands of levels);
 * - a `__proto__` key, or a `constructor` holding a `prototype`, is a 400 `forbidden_key`;
 * - a NUL character (U+0000) in any string or key of the body, the path parameters or the query
 *   string is a 400 `invalid_characters` (PostgreSQL text and jsonb cannot hold one).
 * Every walk is iterative, so no input can overflow the stack here either.
 */

/** Media types whose parsers read the body as UTF-8 text; a charset declared with them must be UTF-8. */
const TEXT_TYPES = new Set(['application/json', 'application/x-ndjson', 'text/csv']);

interface Pending {
  value: unknown;
  depth: number;
  parent: Pending | null;
  key: string | null;
}

function pathOf(entry: Pending, key?: string): string | null {
  const parts: string[] = key === undefined ? [] : [key];
  for (let e: Pending | null = entry; e && e.key !== null; e = e.parent) parts.push(e.key);
  return parts.length ? parts.reverse().join('.') : null;
}

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const nulError = (field: string | null) =>
  invalid('invalid_characters', `${field ?? 'the body'} contains a NUL character (U+0000), which is not accepted`, field);

/**
 * The first problem in a parsed value (depth, forbidden key, NUL character), as a DomainError, or null.
 * Fields are dotted paths from the root, like `personalizations.0.to.0.email`; the root itself is null.
 */
export function inputProblem(root: unknown, maxDepth = MAX_JSON_DEPTH): DomainError | null {
  const stack: Pending[] = [{ value: root, depth: 1, parent: null, key: null }];
  while (stack.length) {
    const entry = stack.pop()!;
    const { value, depth } = entry;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return nulError(pathOf(entry));
      continue;
    }
    if (!isContainer(value)) continue;
    if (depth > maxDepth) {
      return invalid('too_deep', `the body is nested more than ${maxDepth} levels deep`, pathOf(entry));
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth: depth + 1, parent: entry, key: String(i) });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const child = value[key];
      if (key === '__proto__' || (key === 'constructor' && isContainer(child) && Object.prototype.hasOwnProperty.call(child, 'prototype'))) {
        const name = key === '__proto__' ? key : 'constructor.prototype';
        return invalid('forbidden_key', `the key "${name}" is not allowed`, pathOf(entry, name));
      }
      if (key.includes('\u0000')) return nulError(pathOf(entry, key));
      stack.push({ value: child, depth: depth + 1, parent: entry, key });
    }
  }
  return null;
}

function mediaType(header: string | undefined): { type: string; charset: string | null } | null {
  if (!header) return null;
  const [type, ...params] = header.split(';');
  let charset: string | null = null;
  for (const param of params) {
    const at = param.indexOf('=');
    if (at < 0) continue;
    if (param.slice(0, at).trim().toLowerCase() === 'charset') charset = param.slice(at + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return { type: type!.trim().toLowerCase(), charset };
}

const unsupported = (message: string, field: string) => new DomainError('unsupported_media_type', 'unsupported_media_type', message, field);

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Bodies already walked by inputProblem as they were parsed, so preValidation need not walk them again. */
const checked = new WeakSet<object>();

/**
 * A JSON body's text (UTF-8 decoded, a leading BOM allowed) as its value, walked by inputProblem;
 * throws Fastify's empty or invalid JSON error, or the DomainError of the first problem found.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY();
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY();
  }
  const problem = inputProblem(value);
  if (problem) throw problem;
  if (typeof value === 'object' && value !== null) checked.add(value);
  return value;
}

/** Installs the checks on `app`; call before any route is registered. Replaces the JSON body parser. */
export function installInputGuards(app: FastifyInstance): void {
  // Fastify's own parser answers a poisoned body (__proto__) with "not valid JSON"; this one says what is wrong.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    let value: unknown;
    try {
      value = parseJsonBody(body as string);
    } catch (error) {
      return done(error as Error, undefined);
    }
    done(null, value);
  });

  app.addHook('preParsing', async (request) => {
    if (!hasBody(request)) return;
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding && encoding !== 'identity') {
      throw unsupported(`Content-Encoding ${encoding} is not supported; send the body uncompressed`, 'Content-Encoding');
    }
    const media = mediaType(request.headers['content-type']);
    if (media && media.charset !== null && TEXT_TYPES.has(media.type) && media.charset !== 'utf-8' && media.charset !== 'utf8') {
      throw unsupported(`charset ${media.charset} is not supported; send ${media.type} as UTF-8`, 'Content-Type');
    }
  });

  app.addHook('preValidation', async (request) => {
    // Fields of params and query are named as they are: `id`, `q`.
    for (const part of [request.params, request.query]) {
      if (typeof part !== 'object' || part === null) continue;
      const problem = inputProblem({ ...part }); // a plain copy: the router's objects have prototypes of their own
      if (problem) throw problem;
    }
    const { body } = request;
    if (body !== undefined && body !== null && !(typeof body === 'object' && checked.has(body))) {
      const problem = inputProblem(body);
      if (problem) throw problem;
    }
  });
}

/**
 * A route's preValidation hook refusing CR and LF in the body fields that become mail headers
 * (400 `invalid_header_value` naming each), before the schema checks anything else about them.
 */
export function refuseLineBreaks(fields: readonly string[]) {
  return async (request: FastifyRequest): Promise<void> => {
    const errors = lineBreakErrors(request.body, fields);
    if (errors.length) throw DomainError.invalid(errors);
  };
}
