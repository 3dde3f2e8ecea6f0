import { secret, specsOf } from './parsers.ts';

/** Metrics and operator checks. */
export interface ObservabilityConfig {
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | null;
}

const spec = specsOf<ObservabilityConfig>();

export const OBSERVABILITY_VARIABLES = [
  spec({
    name: 'MAILERDASH_METRICS_TOKEN',
    key: 'metricsToken',
    defaultText: '(unset: /metrics is open)',
    description: 'Bearer token that GET /metrics requires (Prometheus: `authorization: {credentials: …}`). At least 16 characters.',
    parse: secret('MAILERDASH_METRICS_TOKEN', 16),
  }),
] as const;
