import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import type { SealedBox } from '../lib/sealed-box.ts';
import * as repo from '../modules/webhooks/delivery-repo.ts';
import { healthAfter } from '../modules/webhooks/endpoint-health.ts';
import { nextAttemptAt } from '../modules/webhooks/retry-schedule.ts';
import type { AttemptResult, WebhookSender } from '../modules/webhooks/sender.ts';
import { signatureHeader } from '../modules/webhooks/signing.ts';
import type { Job } from './runner.ts';

export interface WebhookDeliveryOptions {
  db: Kysely<DB>;
  sender: WebhookSender;
  secrets: SealedBox;
  logger: Logger;
  /** Most attempts in flight at once to one endpoint from this process. */
  concurrency: number;
  /** Most endpoints this process delivers to at once. */
  maxEndpoints?: number;
  /** Counts each attempt's outcome (metrics). */
  onAttempt?: (outcome: 'delivered' | 'retrying' | 'failed') => void;
  now?: () => Date;
  random?: () => number;
}

const ENDPOINT_LEASE_MS = 30_000;
/** Longer than one attempt can take (10 s timeout), so a live attempt never loses its delivery. */
const ATTEMPT_LEASE_MS = 60_000;
const FLUSH_DELAY_MS = 20;
const FLUSH_BATCH = 200;

/**
 * Delivers webhook events. Each endpoint is owned by one worker process at a time (a lease on the
 * endpoint row) and has its own loop with at most `concurrency` attempts in flight, so a slow or
 * dead endpoint holds up nobody else. Within an endpoint, deliveries are taken in event order;
 * with several in flight, and with retries going later, receivers see event order only roughly.
 */
export function createWebhookDeliveryJob(options: WebhookDeliveryOptions): Job & { settle(): Promise<void> } {
  const { db, sender, logger } = options;
  const clock = options.now ?? (() => new Date());
  const random = options.random ?? Math.random;
  const maxEndpoints = options.maxEndpoints ?? 64;
  const owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const tasks = new Map<string, Promise<void>>();
  const opened = new Map<string, Promise<string>>();
  let stopping = false;

  const openSecret = (sealed: string) => {
    let secret = opened.get(sealed);
    if (!secret) {
      secret = options.secrets.open(sealed);
      opened.set(sealed, secret);
    }
    return secret;
  };

  async function signingSecrets(endpoint: repo.LeasedEndpoint, now: Date): Promise<string[]> {
    const secrets = [await openSecret(endpoint.secret_sealed)];
    if (endpoint.previous_secret_sealed && endpoint.previous_secret_until && new Date(endpoint.previous_secret_until) > now) {
      secrets.push(await openSecret(endpoint.previous_secret_sealed));
    }
    return secrets;
  }

  function recordOf(delivery: repo.TakenDelivery, result: AttemptResult, now: Date, disabled: boolean): repo.AttemptRecord {
    const base = { id: delivery.id, attempts: delivery.attempts, lastStatus: result.status, lastError: result.error, lastBody: result.body };
    if (result.ok) return { ...base, status: 'delivered', nextAttemptAt: null, deliveredAt: now };
    const next = nextAttemptAt(delivery.attempts, now, random());
    // A disabled endpoint's deliveries stay pending, due again as soon as it is re-enabled.
    if (disabled) return { ...base, status: 'pending', nextAttemptAt: next ?? now, deliveredAt: null };
    if (!next) return { ...base, status: 'failed', nextAttemptAt: null, deliveredAt: null };
    return { ...base, status: 'pending', nextAttemptAt: next, deliveredAt: null };
  }

  async function serve(first: repo.LeasedEndpoint): Promise<void> {
    let endpoint: repo.LeasedEndpoint | undefined = first;
    let failingSince = first.failing_since ? new Date(first.failing_since) : null;
    let disabled = false;
    let renewAt = clock().getTime() + ENDPOINT_LEASE_MS / 3;
    const waiting: repo.TakenDelivery[] = [];
    const inFlight = new Set<Promise<void>>();
    let exhausted = false;

    const pending: repo.AttemptRecord[] = [];
    let flushing: Promise<void> | null = null;
    let timer: NodeJS.Timeout | null = null;
    const flush = (): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      flushing ??= (async () => {
        while (pending.length) {
          const chunk = pending.splice(0);
          try {
            await repo.recordAttempts(db, chunk);
          } catch (error) {
            // Their attempt leases lapse and they are tried again: a repeat rather than a loss.
            logger.error({ err: error, count: chunk.length }, 'recording webhook attempts failed');
          }
        }
      })().finally(() => (flushing = null));
      return flushing;
    };
    const record = (r: repo.AttemptRecord) => {
      pending.push(r);
      if (pending.length >= FLUSH_BATCH) void flush();
      else timer ??= setTimeout(flush, FLUSH_DELAY_MS);
    };

    const attempt = async (delivery: repo.TakenDelivery, current: repo.LeasedEndpoint) => {
      const at = new Date(delivery.event_at);
      const data = typeof delivery.data === 'string' ? JSON.parse(delivery.data) : delivery.data;
      const body = JSON.stringify({ type: delivery.event_type, timestamp: at.toISOString(), data });
      const now = clock();
      const signature = signatureHeader(await signingSecrets(current, now), delivery.event_id, now, body);
      const result = await sender.send({ url: current.url, id: delivery.event_id, timestamp: now, body, signature });
      const done = clock();
      const health = healthAfter(failingSince, result.status, result.ok, done);
      if ((health.failingSince?.getTime() ?? null) !== (failingSince?.getTime() ?? null) || (health.disable && !disabled)) {
        failingSince = health.failingSince;
        if (health.disable) {
          disabled = true;
          logger.warn({ webhook: current.id, reason: health.disable }, 'webhook endpoint disabled');
        }
        await repo.setEndpointHealth(db, current.id, health, done).catch((error) => logger.error({ err: error }, 'recording endpoint health failed'));
      }
      const outcome = recordOf(delivery, result, done, disabled);
      options.onAttempt?.(outcome.status === 'delivered' ? 'delivered' : outcome.status === 'failed' ? 'failed' : 'retrying');
      record(outcome);
    };

    try {
      while (!stopping && !disabled && endpoint) {
        if (clock().getTime() >= renewAt) {
          endpoint = await repo.renewEndpoint(db, endpoint.id, owner, clock(), ENDPOINT_LEASE_MS);
          renewAt = clock().getTime() + ENDPOINT_LEASE_MS / 3;
          if (!endpoint) break;
        }
        if (waiting.length < options.concurrency && !exhausted) {
          const taken = await repo.takeDeliveries(db, endpoint.id, clock(), ATTEMPT_LEASE_MS, Math.max(options.concurrency * 4, 50));
          waiting.push(...taken);
          exhausted = taken.length === 0;
        }
        while (waiting.length && inFlight.size < options.concurrency) {
          const run = attempt(waiting.shift()!, endpoint).catch((error) => logger.error({ err: error }, 'webhook attempt failed'));
          inFlight.add(run);
          void run.finally(() => inFlight.delete(run));
        }
        if (!inFlight.size) {
          if (exhausted) break;
          continue;
        }
        await Promise.race(inFlight);
        // Finished attempts may have made room for deliveries that became due meanwhile.
        exhausted = false;
      }
    } finally {
      await Promise.all(inFlight);
      await flush();
      await repo.giveBack(db, waiting.map((d) => d.id), clock()).catch((error) => logger.error({ err: error }, 'giving back webhook deliveries failed'));
      await repo.releaseEndpoint(db, first.id, owner).catch((error) => logger.error({ err: error }, 'releasing a webhook endpoint failed'));
    }
  }

  return {
    name: 'webhook-delivery',
    async runOnce() {
      if (stopping || tasks.size >= maxEndpoints) return 0;
      const claimed = await repo.claimEndpoints(db, owner, clock(), ENDPOINT_LEASE_MS, maxEndpoints - tasks.size);
      for (const endpoint of claimed) {
        const task = serve(endpoint)
          .catch((error) => logger.error({ err: error, webhook: endpoint.id }, 'webhook endpoint loop failed'))
          .finally(() => tasks.delete(endpoint.id));
        tasks.set(endpoint.id, task);
      }
      return claimed.length;
    },
    /** Resolves once every endpoint loop this process runs has nothing left due (tests, drain). */
    async settle() {
      while (tasks.size) await Promise.all([...tasks.values()]);
    },
    stop() {
      stopping = true;
    },
    async close() {
      await Promise.all([...tasks.values()]);
      await sender.close();
    },
  };
}
