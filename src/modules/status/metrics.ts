import type { Kysely } from 'kysely';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { DB } from '../../db/schema.ts';
import { queueSummary, sendingCampaigns } from './repo.ts';

/** Reads once for all the gauges of one scrape (each gauge's collect runs in the same scrape). */
function perScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let current: { at: number; value: Promise<T> } | null = null;
  return () => {
    if (!current || Date.now() - current.at > 500) current = { at: Date.now(), value: read() };
    return current.value;
  };
}

/** Queue depth and the oldest due message's age per channel, campaigns in progress, and the database pool. */
export function installQueueMetrics(registry: Registry, db: Kysely<DB>, pool?: pg.Pool, now: () => Date = () => new Date()): void {
  const queue = perScrape(() => queueSummary(db, now()));
  const campaigns = perScrape(() => sendingCampaigns(db));
  new Gauge({
    name: 'mailerdash_queue_messages',
    help: 'Messages in the queue by channel and state: due (queued or deferred, due now), waiting (due later), leased (claimed by a sender)',
    labelNames: ['channel', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of await queue()) {
        this.set({ channel: q.channel, state: 'due' }, q.due);
        this.set({ channel: q.channel, state: 'waiting' }, q.waiting);
        this.set({ channel: q.channel, state: 'leased' }, q.leased + q.lapsed);
      }
    },
  });
  new Gauge({
    name: 'mailerdash_queue_oldest_due_seconds',
    help: 'Age of the oldest message due and not yet claimed, by channel (0 when none)',
    labelNames: ['channel'] as const,
    registers: [registry],
    async collect() {
      const at = now().getTime();
      for (const q of await queue()) this.set({ channel: q.channel }, q.oldestDueAt ? Math.max(0, (at - q.oldestDueAt.getTime()) / 1000) : 0);
    },
  });
  new Gauge({
    name: 'mailerdash_campaign_messages',
    help: 'Messages of each campaign being sent, by state: recipients (made so far), pending, sent, failed (bounced, failed or dropped)',
    labelNames: ['campaign', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await campaigns()) {
        this.set({ campaign: c.id, state: 'recipients' }, c.recipients);
        this.set({ campaign: c.id, state: 'pending' }, c.pending);
        this.set({ campaign: c.id, state: 'sent' }, c.sent);
        this.set({ campaign: c.id, state: 'failed' }, c.failed);
      }
    },
  });
  if (pool) {
    new Gauge({
      name: 'mailerdash_db_pool_connections',
      help: 'PostgreSQL pool connections by state: total, idle, waiting (requests queued for a connection)',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
  }
}
