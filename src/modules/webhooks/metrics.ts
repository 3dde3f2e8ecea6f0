import type { Kysely } from 'kysely';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DB } from '../../db/schema.ts';
import { pendingSummary } from './delivery-repo.ts';

/** Webhook series: attempts by outcome (this process), pending deliveries and the oldest one's age (the database). */
export function installWebhookMetrics(registry: Registry, db: Kysely<DB>, now: () => Date = () => new Date()) {
  const attempts = new Counter({
    name: 'mailerdash_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome: delivered, retrying (failed, tried again later), failed (given up)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const read = () => pendingSummary(db);
  new Gauge({
    name: 'mailerdash_webhook_deliveries_pending',
    help: 'Webhook deliveries not yet delivered nor given up',
    registers: [registry],
    async collect() {
      this.set((await read()).pending);
    },
  });
  new Gauge({
    name: 'mailerdash_webhook_oldest_pending_seconds',
    help: 'Age of the oldest pending webhook delivery (0 when none)',
    registers: [registry],
    async collect() {
      const { oldestCreatedAt } = await read();
      this.set(oldestCreatedAt ? Math.max(0, (now().getTime() - oldestCreatedAt.getTime()) / 1000) : 0);
    },
  });
  return { countAttempt: (outcome: 'delivered' | 'retrying' | 'failed') => attempts.inc({ outcome }) };
}
