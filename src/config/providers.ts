import { readFileSync } from 'node:fs';
import { ProviderConfigError, validateProviders, type ProviderConfig } from '../delivery/providers.ts';
import { SNS_HOST_PATTERN } from '../modules/provider-events/signatures.ts';
import { ConfigError, optional, specsOf } from './parsers.ts';

/** Named providers (MAILERDASH_PROVIDERS) and provider event verification. */
export interface ProvidersConfig {
  /** SNS SigningCertURL and SubscribeURL must match it. */
  snsUrlPattern: RegExp;
  /** Named providers (MAILERDASH_PROVIDERS); null: the one provider of MAILERDASH_SMTP_URL or the outbox. */
  providers: Record<string, ProviderConfig> | null;
  defaultProvider: string | null;
}

const spec = specsOf<ProvidersConfig>();

export const PROVIDER_VARIABLES = [
  spec({
    name: 'MAILERDASH_PROVIDERS',
    key: 'providers',
    defaultText: '(unset: one provider, MAILERDASH_SMTP_URL or the outbox)',
    description:
      'Named providers as JSON or the path of a JSON file: {"smtp-main":{"type":"smtp","url":"smtp://…"},"ses-a":{"type":"ses","region":"eu-west-1","access_key_id":"…","secret_access_key":"…"}}. Types: smtp (url, connections), outbox (dir), and ses, sendgrid, mailgun, postmark with the settings of a per-key provider (see /v1/providers; webhook secrets included). Events of an email service provider post to /v1/events/{type}/{name}.',
    parse: (raw) => parseProviders(optional(raw)),
  }),
  spec({
    name: 'MAILERDASH_DEFAULT_PROVIDER',
    key: 'defaultProvider',
    defaultText: '(unset: the first of MAILERDASH_PROVIDERS)',
    description: 'The provider of every send that names none (/v1/mail/send, campaigns, sequences, batches without a policy).',
    parse: (raw, env) => {
      const value = optional(raw);
      const providers = parseProviders(optional(env.MAILERDASH_PROVIDERS));
      if (value !== null && !providers) throw new ConfigError('MAILERDASH_DEFAULT_PROVIDER', 'needs MAILERDASH_PROVIDERS');
      if (!providers) return null;
      const name = value ?? Object.keys(providers)[0]!;
      try {
        validateProviders(providers, name);
      } catch (error) {
        throw new ConfigError(value === null ? 'MAILERDASH_PROVIDERS' : 'MAILERDASH_DEFAULT_PROVIDER', (error as Error).message);
      }
      return name;
    },
  }),
  spec({
    name: 'MAILERDASH_SNS_CERT_URL_PATTERN',
    key: 'snsUrlPattern',
    defaultText: '^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/',
    description: 'Regular expression that the SigningCertURL and SubscribeURL of an SES event post (SNS) must match before they are fetched (tests point it at a local server).',
    parse: (raw) => {
      try {
        return new RegExp(optional(raw) ?? SNS_HOST_PATTERN);
      } catch {
        throw new ConfigError('MAILERDASH_SNS_CERT_URL_PATTERN', 'must be a regular expression');
      }
    },
  }),
] as const;

function parseProviders(raw: string | null): Record<string, ProviderConfig> | null {
  if (raw === null) return null;
  let text = raw;
  if (!raw.trimStart().startsWith('{')) {
    try {
      text = readFileSync(raw, 'utf8');
    } catch (error) {
      throw new ConfigError('MAILERDASH_PROVIDERS', `is neither JSON nor a readable file: ${(error as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('MAILERDASH_PROVIDERS', `is not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('MAILERDASH_PROVIDERS', 'must be an object of named providers');
  try {
    validateProviders(parsed as Record<string, ProviderConfig>, Object.keys(parsed)[0] ?? '');
  } catch (error) {
    if (error instanceof ProviderConfigError) throw new ConfigError('MAILERDASH_PROVIDERS', error.message);
    throw error;
  }
  return parsed as Record<string, ProviderConfig>;
}
