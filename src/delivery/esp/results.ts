import { Ajv, type ValidateFunction } from 'ajv';
import type { TSchema, Static } from 'typebox';
import { DomainError } from '../../errors.ts';
import type { SendResult, SmtpStage } from '../smtp-outcome.ts';
import type { Transport } from '../transport.ts';

/**
 * What every email service provider transport reports, in our three outcomes:
 * sent (accepted, with the provider's message id), deferred (throttling, 429, 5xx, bad credentials,
 * an account that may not send: retried, or moved to the next provider of a policy) and
 * bounced (the provider's permanent refusal of this recipient).
 */
export const sent = (providerMessageId: string, reply: string): SendResult => ({ outcome: 'accepted', reply, stage: 'data', providerMessageId });
export const deferred = (reply: string, stage: SmtpStage = 'connect'): SendResult => ({ outcome: 'temporary', reply, stage });
/** A permanent refusal of the recipient: counts as a bounce (see isRecipientBounce). */
export const bounced = (reply: string): SendResult => ({ outcome: 'permanent', reply, stage: 'rcpt' });
/** A permanent refusal of the message itself (our request, our sender): fails it without blaming the address. */
export const rejected = (reply: string, stage: SmtpStage = 'local'): SendResult => ({ outcome: 'permanent', reply, stage });

/** The result of a provider's harmless authenticated call (POST /v1/providers/{id}/check). */
export interface CheckResult {
  ok: boolean;
  /** What the provider answered, one line. */
  detail: string;
}

/** A provider transport: the Transport interface, plus the authenticated call that checks its credentials. */
export interface ProviderTransport extends Transport {
  check(): Promise<CheckResult>;
}

/** The one line kept from a provider's answer: its status, its error code and its message. */
export function replyLine(provider: string, status: number | string | undefined, code: string | number | undefined, message: string | undefined): string {
  return [provider, status, code, message?.replace(/\s+/g, ' ').trim().slice(0, 300)].filter((part) => part !== undefined && part !== '').join(' ');
}

/** Parses a provider configuration against its TypeBox schema; every failing field is named. */
// Ajv, which the HTTP layer loads anyway (typebox/value would add its own weight to every process start).
const ajv = new Ajv({ strict: false, allErrors: true });
const validators = new WeakMap<TSchema, ValidateFunction>();

export function parseProviderConfig<T extends TSchema>(schema: T, input: unknown, type: string): Static<T> {
  let validate = validators.get(schema);
  if (!validate) validators.set(schema, (validate = ajv.compile(schema)));
  if (validate(input)) return input as Static<T>;
  const details = (validate.errors ?? []).slice(0, 10).map((error) => ({
    code: 'invalid_provider_config',
    field: error.instancePath.replace(/^\//, '').replace(/\//g, '.') || null,
    message: `${type} provider: ${error.instancePath || 'config'} ${error.message ?? 'is invalid'}`,
  }));
  throw details.length ? DomainError.invalid(details) : new DomainError('invalid', 'invalid_provider_config', `${type} provider configuration is invalid`);
}

/** Splits a list into runs of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Provider calls one transport has in flight at once (a batch of own-content messages is one call each). */
export const CALLS_IN_FLIGHT = 16;

/** Runs `work` over every item with at most `limit` in flight; results in input order. */
export async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
