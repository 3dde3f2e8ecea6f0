import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import { fanOut } from '../modules/webhooks/delivery-repo.ts';
import type { Job } from './runner.ts';

/** Turns outbox events into deliveries, one per subscribed endpoint. */
export function createWebhookFanOutJob(options: { db: Kysely<DB>; now?: () => Date; batchSize?: number; onDeliveries?: () => void }): Job {
  const clock = options.now ?? (() => new Date());
  const batchSize = options.batchSize ?? 1000;
  return {
    name: 'webhook-fan-out',
    async runOnce() {
      const { events, deliveries } = await fanOut(options.db, batchSize, clock());
      if (deliveries) options.onDeliveries?.();
      return events;
    },
  };
}
