import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Outcome } from './queue-repo.ts';
import type { SendResult } from './smtp-outcome.ts';

/** What the send job reports of each attempt and each settled message (logs and metrics watch it). */
export interface DeliveryObserver {
  /** One hand-over to a provider, with how long its reply took. */
  attempted(provider: string, result: SendResult, seconds: number): void;
  /** The outcome written for a message (not a release back to the queue). */
  settled(message: { id: string; channel: string; to_email: string }, outcome: Outcome): void;
}

export const silentObserver: DeliveryObserver = { attempted() {}, settled() {} };

/** The SMTP reply code at the head of a reply line ("550 5.1.1 …"), or null for a local failure. */
export function replyCode(reply: string | null): number | null {
  const match = /^([2-5]\d\d)[\s-]/.exec(reply ?? '');
  return match ? Number(match[1]) : null;
}

/**
 * Each failure, deferral and bounce is one structured log line (a bounce or failure at warn, a
 * deferral at info), and every outcome and reply time is counted.
 */
export function createDeliveryObserver(registry: Registry, logger: Logger): DeliveryObserver {
  const messages = new Counter({
    name: 'mailerdash_messages_total',
    help: 'Messages settled by channel and outcome: sent, deferred, bounced, dropped, failed',
    labelNames: ['channel', 'outcome'] as const,
    registers: [registry],
  });
  const replyTime = new Histogram({
    name: 'mailerdash_transport_reply_seconds',
    help: 'Time from handing a message to a provider to its reply, by provider and outcome',
    labelNames: ['provider', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const connectionErrors = new Counter({
    name: 'mailerdash_transport_connection_errors_total',
    help: 'Attempts that failed before the provider answered (refused, timed out, TLS), by provider',
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  return {
    attempted(provider, result, seconds) {
      replyTime.observe({ provider, outcome: result.outcome }, seconds);
      if (result.stage === 'connect') connectionErrors.inc({ provider });
    },
    settled(message, outcome) {
      messages.inc({ channel: message.channel, outcome: outcome.status });
      if (outcome.status !== 'failed' && outcome.status !== 'bounced' && outcome.status !== 'deferred') return;
      const line = {
        messageId: message.id,
        domain: message.to_email.slice(message.to_email.lastIndexOf('@') + 1).toLowerCase(),
        code: replyCode(outcome.response),
        reply: outcome.response,
        provider: outcome.provider ?? null,
        attempts: outcome.attempts,
      };
      if (outcome.status === 'deferred') logger.info({ ...line, retryAt: outcome.dueAt?.toISOString() ?? null }, 'delivery deferred');
      else logger.warn(line, outcome.status === 'bounced' ? 'delivery bounced' : 'delivery failed');
    },
  };
}
