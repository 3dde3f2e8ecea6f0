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
const TAKE_BATCH = 200;
const FLUSH_DELAY_MS = 20;
const FLUSH_BATCH = 200;
/** How often a loop looks behind its cursor for retries that fell due: when it has caught up, and under load. */
const RESCAN_IDLE_MS = 1_000;
const RESCAN_BUSY_MS = 5_000;

/**
 * Delivers webhook events. Each endpoint is owned by one worker process at a time (a lease on the
 * endpoint row) and has its own loop with at most `concurrency` attempts in flight, so a slow or
 * dead endpoint holds up nobody else. Within an endpoint, deliveries are taken in event order (a
 * cursor walks the pending ones, the next batch read while the current one is sent); with several
 * in flight, and with retries going later, receivers see event order only roughly. If the worker
 * dies, its endpoint lease lapses and another takes the endpoint over: what was sent but not yet
 * recorded is sent again, nothing is lost.
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
      // A failure (the server secret could not be read) is not kept: the next attempt asks again.
      secret = options.secrets.open(sealed).catch((error) => {
        opened.delete(sealed);
        throw error;
      });
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
    const base = { id: delivery.id, attemptedAt: now, lastStatus: result.status, lastError: result.error, lastBody: result.body };
    if (result.ok) return { ...base, status: 'delivered', nextAttemptAt: null, deliveredAt: now };
    const next = nextAttemptAt(delivery.attempts + 1, now, random());
    // A disabled endpoint's deliveries stay pending, due again as soon as it is re-enabled.
    if (disabled) return { ...base, status: 'pending', nextAttemptAt: next ?? now, deliveredAt: null };
    if (!next) return { ...base, status: 'failed', nextAttemptAt: null, deliveredAt: null };
    return { ...base, status: 'pending', nextAttemptAt: next, deliveredAt: null };
  }

  async function serve(first: repo.LeasedEndpoint): Promise<void> {
    let endpoint: repo.LeasedEndpoint = first;
    let failingSince = first.failing_since ? new Date(first.failing_since) : null;
    let disabled = false;
    let lost = false;
    let renewAt = clock().getTime() + ENDPOINT_LEASE_MS / 3;
    const waiting: repo.TakenDelivery[] = [];
    // Taken and not yet recorded: never taken again by this loop meanwhile.
    const busy = new Set<string>();
    const inFlight = new Set<Promise<void>>();
    let cursor = '0';
    let rescannedAt = -Infinity;
    let taking: Promise<void> | null = null;
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
            await repo.recordAttempts(db, first.id, owner, chunk);
          } catch (error) {
            // Still pending in the database: sent again later, a repeat rather than a loss.
            logger.error({ err: error, count: chunk.length }, 'recording webhook attempts failed');
          }
          for (const r of chunk) busy.delete(r.id);
        }
      })().finally(() => (flushing = null));
      return flushing;
    };
    const record = (r: repo.AttemptRecord) => {
      pending.push(r);
      if (pending.length >= FLUSH_BATCH) void flush();
      else timer ??= setTimeout(flush, FLUSH_DELAY_MS);
    };

    // `before`: what was busy when the read began. An attempt recorded while the read ran is no longer
    // busy, but the read may still have seen it pending: taking it again would send it twice.
    const keep = (rows: repo.TakenDelivery[], before: Set<string>): number => {
      let kept = 0;
      for (const d of rows) {
        if (busy.has(d.id) || before.has(d.id)) continue;
        busy.add(d.id);
        waiting.push(d);
        kept++;
      }
      return kept;
    };
    const take = async () => {
      const now = clock();
      const before = new Set(busy);
      const ahead = await repo.takeDeliveries(db, endpoint.id, now, cursor, TAKE_BATCH);
      if (ahead.length) cursor = ahead[ahead.length - 1]!.event_seq;
      let kept = keep(ahead, before);
      if (now.getTime() - rescannedAt >= (ahead.length < TAKE_BATCH ? RESCAN_IDLE_MS : RESCAN_BUSY_MS)) {
        rescannedAt = now.getTime();
        kept += keep(await repo.takeDeliveries(db, endpoint.id, now, '0', TAKE_BATCH + busy.size), before);
      }
      exhausted = kept === 0;
    };

    const attempt = async (delivery: repo.TakenDelivery) => {
      const current = endpoint;
      const body = `{"type":${JSON.stringify(delivery.event_type)},"timestamp":"${new Date(delivery.event_at).toISOString()}","data":${delivery.data}}`;
      const now = clock();
      let result: AttemptResult;
      try {
        const signature = signatureHeader(await signingSecrets(current, now), delivery.event_id, now, body);
        result = await sender.send({ url: current.url, id: delivery.event_id, timestamp: now, body, signature });
      } catch (error) {
        // Not signed (its secret could not be read): a failed attempt like any other, retried on schedule.
        result = { ok: false, status: null, body: null, error: `not signed: ${(error as Error).message}` };
      }
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
      while (!stopping && !disabled && !lost) {
        if (clock().getTime() >= renewAt) {
          const renewed = await repo.renewEndpoint(db, endpoint.id, owner, clock(), ENDPOINT_LEASE_MS);
          renewAt = clock().getTime() + ENDPOINT_LEASE_MS / 3;
          if (!renewed) {
            lost = true;
            break;
          }
          endpoint = renewed;
        }
        if (!taking && !exhausted && waiting.length < 2 * options.concurrency) {
          taking = take()
            .catch((error) => {
              logger.error({ err: error, webhook: endpoint.id }, 'reading webhook deliveries failed');
              exhausted = true;
            })
            .finally(() => (taking = null));
        }
        while (waiting.length && inFlight.size < options.concurrency) {
          const run = attempt(waiting.shift()!).catch((error) => logger.error({ err: error }, 'webhook attempt failed'));
          inFlight.add(run);
          void run.finally(() => inFlight.delete(run));
        }
        if (!inFlight.size && !taking) {
          if (exhausted) break;
          continue;
        }
        await Promise.race(taking ? [...inFlight, taking] : [...inFlight]);
      }
    } finally {
      await taking;
      await Promise.all(inFlight);
      await flush();
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
          .finally(() => {
            if (tasks.get(endpoint.id) === task) tasks.delete(endpoint.id);
          });
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
