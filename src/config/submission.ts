import { boolean, ConfigError, integer, optional, specsOf } from './parsers.ts';

/** SMTP submission relay (src/modules/submission). */
export interface SubmissionConfig {
  submissionPort: number;
  tlsCert: string | null;
  tlsKey: string | null;
  submissionImplicitTls: boolean;
  submissionPlaintextLoopback: boolean;
  submissionRate: number;
}

const spec = specsOf<SubmissionConfig>();

export const SUBMISSION_VARIABLES = [
  spec({
    name: 'MAILERDASH_SUBMISSION_PORT',
    key: 'submissionPort',
    defaultText: '2525',
    description: 'Port of the SMTP submission relay (`mailerdash start` and `mailerdash submission`). In production 587 (STARTTLS) or 465 (implicit TLS, with MAILERDASH_SUBMISSION_IMPLICIT_TLS).',
    parse: integer('MAILERDASH_SUBMISSION_PORT', 2525, 0, 65535),
  }),
  spec({
    name: 'MAILERDASH_TLS_CERT',
    key: 'tlsCert',
    defaultText: '(unset: no TLS)',
    description: 'PEM certificate (chain) file of the submission relay; read again when it changes.',
    parse: (raw) => optional(raw),
  }),
  spec({
    name: 'MAILERDASH_TLS_KEY',
    key: 'tlsKey',
    defaultText: '(unset: no TLS)',
    description: 'PEM private key file of MAILERDASH_TLS_CERT; read again when it changes.',
    parse: (raw, env) => {
      const value = optional(raw);
      if ((value === null) !== (optional(env.MAILERDASH_TLS_CERT) === null)) throw new ConfigError('MAILERDASH_TLS_KEY', 'MAILERDASH_TLS_CERT and MAILERDASH_TLS_KEY go together');
      return value;
    },
  }),
  spec({
    name: 'MAILERDASH_SUBMISSION_IMPLICIT_TLS',
    key: 'submissionImplicitTls',
    defaultText: 'false',
    description: 'true: TLS from the first byte (port 465) instead of STARTTLS; needs MAILERDASH_TLS_CERT.',
    parse: (raw, env) => {
      const value = boolean('MAILERDASH_SUBMISSION_IMPLICIT_TLS')(raw);
      if (value && optional(env.MAILERDASH_TLS_CERT) === null) throw new ConfigError('MAILERDASH_SUBMISSION_IMPLICIT_TLS', 'needs MAILERDASH_TLS_CERT and MAILERDASH_TLS_KEY');
      return value;
    },
  }),
  spec({
    name: 'MAILERDASH_SUBMISSION_PLAINTEXT_LOOPBACK',
    key: 'submissionPlaintextLoopback',
    defaultText: 'false',
    description: 'true: clients on loopback addresses may AUTH without TLS (local development). Everyone else must use TLS first.',
    parse: boolean('MAILERDASH_SUBMISSION_PLAINTEXT_LOOPBACK'),
  }),
  spec({
    name: 'MAILERDASH_SUBMISSION_RATE',
    key: 'submissionRate',
    defaultText: '0 (unlimited)',
    description: 'Most messages (one per recipient) each API key may submit over SMTP per minute, counted across every listener; more get 451 4.7.1.',
    parse: integer('MAILERDASH_SUBMISSION_RATE', 0, 0, 100_000_000),
  }),
] as const;
