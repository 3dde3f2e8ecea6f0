import { DASHBOARD_VARIABLES, type DashboardConfig } from './config/dashboard.ts';
import { DELIVERY_VARIABLES, type DeliveryConfig } from './config/delivery.ts';
import { INBOUND_VARIABLES, type InboundConfig } from './config/inbound.ts';
import { OBSERVABILITY_VARIABLES, type ObservabilityConfig } from './config/observability.ts';
import type { Env } from './config/parsers.ts';
import { PROVIDER_VARIABLES, type ProvidersConfig } from './config/providers.ts';
import { RETENTION_VARIABLES, type RetentionConfig } from './config/retention.ts';
import { SERVER_VARIABLES, type ServerConfig } from './config/server.ts';
import { SUBMISSION_VARIABLES, type SubmissionConfig } from './config/submission.ts';
import { WEBHOOK_VARIABLES, type WebhooksConfig } from './config/webhooks.ts';

export { ConfigError } from './config/parsers.ts';

/**
 * Every configuration variable, read and validated once at start. Each concept declares its own in src/config/.
 * The README's configuration table lists exactly these names (a test checks it).
 */
export interface Config extends ServerConfig, DeliveryConfig, WebhooksConfig, SubmissionConfig, InboundConfig, ProvidersConfig, ObservabilityConfig, RetentionConfig, DashboardConfig {}

export const VARIABLES = [
  ...SERVER_VARIABLES,
  ...DELIVERY_VARIABLES,
  ...WEBHOOK_VARIABLES,
  ...SUBMISSION_VARIABLES,
  ...INBOUND_VARIABLES,
  ...PROVIDER_VARIABLES,
  ...OBSERVABILITY_VARIABLES,
  ...RETENTION_VARIABLES,
  ...DASHBOARD_VARIABLES,
] as const;

/** Reads every variable; the first bad one throws a ConfigError naming it. */
export function loadConfig(env: Env = process.env): Config {
  const config = {} as Record<keyof Config, unknown>;
  for (const variable of VARIABLES) {
    config[variable.key] = variable.parse(env[variable.name], env);
  }
  return config as unknown as Config;
}
