import { Transform, pipeline, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { DomainError, invalid } from '../../errors.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../lib/json-depth.ts';

/**
 * Turns an import request body into rows, one at a time, without holding the body: a JSON array
 * (split element by element), NDJSON (one object a line) or CSV (header row: email, name, any
 * other column becomes metadata). A body that is not well-formed at all fails the whole request;
 * a row that is well-formed but wrong is reported by the importer and the others go on.
 */

export interface SourceRow {
  /** 0-based position among the data rows (array elements, lines, CSV records after the header). */
  index: number;
  value?: unknown;
  /** Set when the row itself could not be read (an NDJSON line that is not JSON, a row nested too deep). */
  unreadable?: string;
  /** The row error code of an unreadable row; invalid_json unless set. */
  code?: string;
}

/** A JSON row nested deeper than the API accepts is a row error (checking it further would recurse that deep). */
function parsedRow(index: number, value: unknown): SourceRow {
  if (nestsDeeperThan(value)) return { index, value, code: 'too_deep', unreadable: `the row is nested more than ${MAX_JSON_DEPTH} levels deep` };
  return { index, value };
}

/** Largest single row, in characters. */
export const MAX_ROW_CHARS = 65_536;

function rowTooLarge(): DomainError {
  return new DomainError('too_large', 'row_too_large', `a row is larger than ${MAX_ROW_CHARS} characters`);
}

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const COMMA = 44;

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff;

/** The top-level elements of a JSON array, as text, while it streams in. */
export async function* jsonArrayElements(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let state = 'before' as 'before' | 'inside' | 'after';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let pending = '';
  let elements = 0;
  let sawComma = false;
  for await (const chunk of chunks) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (state !== 'inside') {
        if (isSpace(c)) continue;
        if (state === 'before' && c === OPEN_ARRAY) {
          state = 'inside';
          depth = 1;
          start = i + 1;
          continue;
        }
        throw invalid(state === 'before' ? 'not_an_array' : 'invalid_json', state === 'before' ? 'the body must be a JSON array of contacts' : 'unexpected data after the JSON array');
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        continue;
      }
      if (c === QUOTE) inString = true;
      else if (c === OPEN_ARRAY || c === OPEN_OBJECT) depth++;
      else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && depth > 1) depth--;
      else if (depth === 1 && (c === COMMA || c === CLOSE_ARRAY)) {
        const text = (pending + chunk.slice(start, i)).trim();
        pending = '';
        start = i + 1;
        if (text.length > MAX_ROW_CHARS) throw rowTooLarge();
        if (text) {
          elements++;
          yield text;
        } else if (c === COMMA || sawComma || elements > 0) {
          throw invalid('invalid_json', 'the JSON array has an empty element');
        }
        if (c === COMMA) sawComma = true;
        else {
          state = 'after';
          depth = 0;
        }
      }
    }
    if (state === 'inside') {
      pending += chunk.slice(start);
      if (pending.length > MAX_ROW_CHARS) throw rowTooLarge();
    }
  }
  if (state !== 'after') throw invalid('invalid_json', state === 'before' ? 'the body is empty' : 'the JSON array is not closed');
}

export async function* jsonArrayRows(body: Readable): AsyncGenerator<SourceRow> {
  body.setEncoding('utf8');
  let index = 0;
  for await (const text of jsonArrayElements(body)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw invalid('invalid_json', `element ${index} of the array is not valid JSON`);
    }
    yield parsedRow(index++, value);
  }
}

async function* lines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of chunks) {
    pending += chunk;
    let start = 0;
    for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n', start)) {
      yield pending.slice(start, end);
      start = end + 1;
    }
    pending = pending.slice(start);
    if (pending.length > MAX_ROW_CHARS) throw rowTooLarge();
  }
  if (pending) yield pending;
}

export async function* ndjsonRows(body: Readable): AsyncGenerator<SourceRow> {
  body.setEncoding('utf8');
  let index = 0;
  for await (const line of lines(body)) {
    if (line.length > MAX_ROW_CHARS) throw rowTooLarge();
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    yield value === undefined ? { index, unreadable: 'the line is not valid JSON' } : parsedRow(index, value);
    index++;
  }
}

/** Most bytes one import body may carry (the row cap alone would allow 64 GB of 64 KB rows). */
export const MAX_IMPORT_BYTES = 1024 * 1024 * 1024;

/** The body, failing with a 413 once it passes `maxBytes`; errors of either side end both. */
export function limitBytes(body: Readable, maxBytes = MAX_IMPORT_BYTES): Readable {
  let total = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      if (total > maxBytes) callback(new DomainError('too_large', 'body_too_large', `an import body carries at most ${maxBytes} bytes`));
      else callback(null, chunk);
    },
  });
  return pipeline(body, limiter, () => {});
}

const EMAIL_HEADER = /^e-?mail(?:[ _-]?address)?$/i;
const NAME_HEADER = /^(?:full[ _-]?)?name$/i;

export async function* csvRows(body: Readable): AsyncGenerator<SourceRow> {
  const parser = body.pipe(
    parse({ bom: true, relax_column_count: true, skip_empty_lines: true, max_record_size: MAX_ROW_CHARS }),
  );
  body.on('error', (error) => parser.destroy(error));
  let header: string[] | null = null;
  let emailAt = -1;
  let nameAt = -1;
  let index = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = record.map((h) => h.trim());
        emailAt = header.findIndex((h) => EMAIL_HEADER.test(h));
        nameAt = header.findIndex((h) => NAME_HEADER.test(h));
        if (emailAt < 0) throw invalid('missing_email_column', 'the CSV header row needs an "email" column', 'email');
        continue;
      }
      const value: { email?: string; name?: string; metadata?: Record<string, string> } = {};
      const metadata: Record<string, string> = {};
      let extra = false;
      for (let col = 0; col < header.length; col++) {
        const cell = record[col];
        if (col === emailAt) value.email = cell ?? '';
        else if (col === nameAt) {
          if (cell) value.name = cell;
        } else if (header[col] && cell !== undefined && cell !== '') {
          metadata[header[col]!] = cell;
          extra = true;
        }
      }
      if (extra) value.metadata = metadata;
      yield { index: index++, value };
    }
  } catch (error) {
    if (error instanceof DomainError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'CSV_MAX_RECORD_SIZE') throw rowTooLarge();
    if (code?.startsWith('CSV_')) throw invalid('invalid_csv', `the CSV could not be read: ${(error as Error).message}`);
    throw error;
  }
  if (!header) throw invalid('invalid_csv', 'the CSV has no header row');
}

/** The import content types this API reads, each with its parser. */
export const IMPORT_TYPES = ['application/json', 'text/csv', 'application/x-ndjson'];

/** The bare media type of a Content-Type header, lower-cased. */
export const mediaType = (header: string | undefined) => (header ?? '').split(';')[0]!.trim().toLowerCase();

/** The rows of a body of the given media type; null when the type is not one an import reads. */
export function rowsFor(type: string, body: Readable): AsyncGenerator<SourceRow> | null {
  return type === 'text/csv' ? csvRows(body) : type === 'application/x-ndjson' ? ndjsonRows(body) : type === 'application/json' ? jsonArrayRows(body) : null;
}
