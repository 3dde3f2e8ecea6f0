import type { TSchema } from 'typebox';
import type { ProviderTransport } from './esp/results.ts';
import { createMailgunTransport, MAILGUN_SECRET_FIELDS, MailgunConfig, parseMailgunConfig } from './mailgun/transport.ts';
import { createPostmarkTransport, parsePostmarkConfig, POSTMARK_SECRET_FIELDS, PostmarkConfig } from './postmark/transport.ts';
import { createSendgridTransport, parseSendgridConfig, SENDGRID_SECRET_FIELDS, SendgridConfig } from './sendgrid/transport.ts';
import { createSesTransport, parseSesConfig, SES_SECRET_FIELDS, SesConfig } from './ses/transport.ts';

/**
 * The email service providers MailerDash sends through, by `type`: each with its configuration
 * schema, its parser, the fields of it that are secrets (sealed at rest, never answered) and its
 * transport factory. Operator providers (the provider list) and per-key providers (/v1/providers)
 * both go through here.
 */
export type ProviderConfig = SesConfig | SendgridConfig | MailgunConfig | PostmarkConfig;
export type ProviderType = ProviderConfig['type'];

interface ProviderKind {
  schema: TSchema;
  parse(input: unknown): ProviderConfig;
  secretFields: readonly string[];
  create(config: ProviderConfig): ProviderTransport;
}

export const PROVIDER_KINDS: Record<ProviderType, ProviderKind> = {
  ses: { schema: SesConfig, parse: parseSesConfig, secretFields: SES_SECRET_FIELDS, create: (c) => createSesTransport(c as SesConfig) },
  sendgrid: { schema: SendgridConfig, parse: parseSendgridConfig, secretFields: SENDGRID_SECRET_FIELDS, create: (c) => createSendgridTransport(c as SendgridConfig) },
  mailgun: { schema: MailgunConfig, parse: parseMailgunConfig, secretFields: MAILGUN_SECRET_FIELDS, create: (c) => createMailgunTransport(c as MailgunConfig) },
  postmark: { schema: PostmarkConfig, parse: parsePostmarkConfig, secretFields: POSTMARK_SECRET_FIELDS, create: (c) => createPostmarkTransport(c as PostmarkConfig) },
};

export const PROVIDER_TYPES = Object.keys(PROVIDER_KINDS) as ProviderType[];

export const isProviderType = (type: unknown): type is ProviderType => typeof type === 'string' && Object.hasOwn(PROVIDER_KINDS, type);

/** A provider transport from a parsed configuration. */
export function createProviderTransport(config: ProviderConfig): ProviderTransport {
  return PROVIDER_KINDS[config.type].create(config);
}

/** The configuration split into what may be shown and what is sealed. */
export function splitSecrets(config: ProviderConfig): { settings: Record<string, unknown>; secrets: Record<string, string> } {
  const secretFields = new Set(PROVIDER_KINDS[config.type].secretFields);
  const settings: Record<string, unknown> = {};
  const secrets: Record<string, string> = {};
  for (const [name, value] of Object.entries(config)) {
    if (secretFields.has(name)) secrets[name] = String(value);
    else settings[name] = value;
  }
  return { settings, secrets };
}
