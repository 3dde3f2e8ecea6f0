import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Tokenizer, TokenParser, TokenType } from '@streamparser/json';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { DomainError, invalid } from '../../errors.ts';
import { inputProblem } from '../../http/input-guards.ts';
import { BatchHeader, BatchRecipient, MAX_BATCH_RECIPIENTS, type BatchHeaderT, type BatchRecipientT } from './schemas.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false, allErrors: true, useDefaults: true, coerceTypes: false }));
const checkRecipient = ajv.compile<BatchRecipientT>(BatchRecipient);
const checkHeader = ajv.compile<BatchHeaderT>(BatchHeader);
const HEADER_FIELDS = new Set(Object.keys(BatchHeader.properties));

/** Largest batch body: 100,000 recipients with their variables, far above what the general body limit allows. */
export const MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024;
/** Recipients handed on at a time (one staging write each). */
const CHUNK = 5000;

export interface StreamedBody {
  header: BatchHeaderT;
  recipients: number;
  /** SHA-256 of the body bytes: what an Idempotency-Key's "same payload" compares. */
  sha256: string;
}

function schemaErrors(errors: ErrorObject[] | null | undefined, prefix: string): DomainError {
  return DomainError.invalid(
    (errors ?? []).slice(0, 20).map((e) => {
      const field = [prefix, ...e.instancePath.split('/').filter(Boolean)].filter(Boolean).join('.') || null;
      const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
      return { field, code: e.keyword === 'additionalProperties' ? 'unsupported_field' : 'invalid_field', message: `${field ?? 'body'} ${e.message ?? 'is invalid'}${extra}` };
    }),
  );
}

/**
 * Reads a batch body from the request stream without ever holding it whole: each recipient is
 * checked against its schema as it completes and handed on in chunks (awaited, so a slow consumer
 * slows the upload); every other top-level field is small and kept. The body's hash is taken on the way.
 */
export async function readBatchBody(stream: Readable, onRecipients: (chunk: BatchRecipientT[], firstIndex: number) => Promise<void>): Promise<StreamedBody> {
  const hash = createHash('sha256');
  const tokenizer = new Tokenizer();
  const parser = new TokenParser({ paths: ['$.recipients.*', ...[...HEADER_FIELDS].map((f) => `$.${f}`)], keepStack: false });
  const header: Record<string, unknown> = {};
  let pending: BatchRecipientT[] = [];
  let handed = 0;
  let count = 0;
  let problem: Error | null = null;
  let sawRecipients = false;
  // Depth and key tracking at the top level, to refuse unknown fields and a non-array `recipients`
  // (the token parser only emits the paths it was given).
  let depth = 0;
  let expectKey = false;
  let lastTopKey: string | null = null;
  let afterColon = false;

  const fail = (error: Error) => {
    problem ??= error;
  };
  tokenizer.onToken = (info) => {
    if (problem) return;
    const { token, value } = info;
    if (depth === 0 && token !== TokenType.LEFT_BRACE) return fail(invalid('invalid_body', 'the body must be a JSON object'));
    if (depth === 1) {
      if (expectKey && token === TokenType.STRING) {
        lastTopKey = value as string;
        if (lastTopKey !== 'recipients' && !HEADER_FIELDS.has(lastTopKey)) return fail(invalid('unsupported_field', `${lastTopKey} is not a batch field`, lastTopKey));
        expectKey = false;
      } else if (token === TokenType.COLON) {
        afterColon = true;
      } else if (afterColon) {
        afterColon = false;
        if (lastTopKey === 'recipients') {
          if (token !== TokenType.LEFT_BRACKET) return fail(invalid('invalid_field', 'recipients must be an array', 'recipients'));
          sawRecipients = true;
        }
      }
      if (token === TokenType.COMMA) expectKey = true;
    }
    if (token === TokenType.LEFT_BRACE || token === TokenType.LEFT_BRACKET) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (token === TokenType.RIGHT_BRACE || token === TokenType.RIGHT_BRACKET) {
      depth--;
    }
    try {
      parser.write(info);
    } catch (error) {
      fail(invalid('invalid_json', `the body is not valid JSON: ${(error as Error).message}`));
    }
  };
  tokenizer.onError = (error) => fail(invalid('invalid_json', `the body is not valid JSON: ${error.message}`));
  parser.onError = (error) => fail(invalid('invalid_json', `the body is not valid JSON: ${error.message}`));
  parser.onValue = ({ value, key, stack }) => {
    if (problem) return;
    if (stack.length === 1) {
      header[key as string] = value;
      return;
    }
    const index = count++;
    if (count > MAX_BATCH_RECIPIENTS) return fail(invalid('too_many_recipients', `a batch holds at most ${MAX_BATCH_RECIPIENTS} recipients`, 'recipients'));
    const guard = inputProblem(value);
    if (guard) return fail(guard);
    if (!checkRecipient(value)) return fail(schemaErrors(checkRecipient.errors, `recipients.${index}`));
    pending.push(value);
  };

  let bytes = 0;
  for await (const chunk of stream) {
    const data = chunk as Buffer;
    bytes += data.length;
    if (bytes > MAX_BATCH_BODY_BYTES) throw new DomainError('too_large', 'body_too_large', `a batch body is at most ${MAX_BATCH_BODY_BYTES} bytes`);
    hash.update(data);
    tokenizer.write(data);
    if (problem) throw problem;
    if (pending.length >= CHUNK) {
      const chunkOut = pending;
      pending = [];
      await onRecipients(chunkOut, handed);
      handed += chunkOut.length;
    }
  }
  if (!problem && !parser.isEnded) fail(invalid('invalid_json', 'the body ended before its JSON did'));
  if (problem) throw problem;
  if (pending.length) {
    await onRecipients(pending, handed);
    handed += pending.length;
  }
  if (!sawRecipients || count === 0) throw invalid('invalid_field', 'recipients must hold at least one recipient', 'recipients');
  const guard = inputProblem(header);
  if (guard) throw guard;
  if (!checkHeader(header)) throw schemaErrors(checkHeader.errors, '');
  return { header, recipients: count, sha256: hash.digest('hex') };
}
