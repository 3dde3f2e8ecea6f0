import { bounceDomainOf, ConfigError, integer, optional, specsOf } from './parsers.ts';

/** Inbound feedback loop (src/modules/inbound). */
export interface InboundConfig {
  inboundPort: number;
  inboundHost: string;
  inboundMaxBytes: number;
  inboundMaxClients: number;
  inboundRatePerMinute: number;
  inboundTlsCert: string | null;
  inboundTlsKey: string | null;
  fblAddress: string;
  softBounceLimit: number;
  softBounceWindowDays: number;
}

const spec = specsOf<InboundConfig>();

export const INBOUND_VARIABLES = [
  spec({ name: 'MAILERDASH_INBOUND_PORT', key: 'inboundPort', defaultText: '2526', description: 'SMTP port of the inbound listener (VERP bounces, ARF reports, mailto unsubscribes); 25 in production, 0 picks a free port.', parse: integer('MAILERDASH_INBOUND_PORT', 2526, 0, 65535) }),
  spec({ name: 'MAILERDASH_INBOUND_HOST', key: 'inboundHost', defaultText: '0.0.0.0', description: 'Address the inbound listener listens on.', parse: (raw) => optional(raw) ?? '0.0.0.0' }),
  spec({ name: 'MAILERDASH_INBOUND_MAX_BYTES', key: 'inboundMaxBytes', defaultText: '10485760 (10 MB)', description: 'Largest inbound mail in bytes; larger mail is refused with 552.', parse: integer('MAILERDASH_INBOUND_MAX_BYTES', 10 * 1024 * 1024, 1024, 100 * 1024 * 1024) }),
  spec({ name: 'MAILERDASH_INBOUND_MAX_CLIENTS', key: 'inboundMaxClients', defaultText: '100', description: 'Most SMTP connections the inbound listener holds at once; more get 421.', parse: integer('MAILERDASH_INBOUND_MAX_CLIENTS', 100, 1, 10_000) }),
  spec({ name: 'MAILERDASH_INBOUND_RATE', key: 'inboundRatePerMinute', defaultText: '600', description: 'Most inbound messages per minute from one client address (0 = unlimited); more get 450 4.7.0 at MAIL FROM.', parse: integer('MAILERDASH_INBOUND_RATE', 600, 0, 10_000_000) }),
  spec({ name: 'MAILERDASH_INBOUND_TLS_CERT', key: 'inboundTlsCert', defaultText: '(unset: no STARTTLS)', description: 'PEM certificate file; with MAILERDASH_INBOUND_TLS_KEY the inbound listener offers STARTTLS.', parse: optional }),
  spec({ name: 'MAILERDASH_INBOUND_TLS_KEY', key: 'inboundTlsKey', defaultText: '(unset)', description: 'PEM private key file of MAILERDASH_INBOUND_TLS_CERT.', parse: optional }),
  spec({
    name: 'MAILERDASH_FBL_ADDRESS',
    key: 'fblAddress',
    defaultText: 'fbl@$MAILERDASH_BOUNCE_DOMAIN',
    description: 'The address registered with mailbox providers\' feedback loops; ARF reports to it are accepted.',
    parse: (raw, env) => {
      const value = (optional(raw) ?? `fbl@${bounceDomainOf(env)}`).toLowerCase();
      if (!/^[^@\s]+@[^@\s]+$/.test(value)) throw new ConfigError('MAILERDASH_FBL_ADDRESS', `is not an address: "${value}"`);
      return value;
    },
  }),
  spec({ name: 'MAILERDASH_SOFT_BOUNCE_LIMIT', key: 'softBounceLimit', defaultText: '5', description: 'Soft bounces of one address within MAILERDASH_SOFT_BOUNCE_DAYS that make it bounced.', parse: integer('MAILERDASH_SOFT_BOUNCE_LIMIT', 5, 1, 1000) }),
  spec({ name: 'MAILERDASH_SOFT_BOUNCE_DAYS', key: 'softBounceWindowDays', defaultText: '7', description: 'The soft-bounce window in days.', parse: integer('MAILERDASH_SOFT_BOUNCE_DAYS', 7, 1, 365) }),
] as const;
