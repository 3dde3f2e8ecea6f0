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
  /** How long a loop that has caught up keeps its endpoint, looking for new deliveries, before letting it go. */
  lingerMs?: number;
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
/** While caught up, how often a loop looks for new deliveries (events fan out as they are written). */
const IDLE_POLL_MS = 25;
const LINGER_MS = 2_000;

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
  const lingerMs = options.lingerMs ?? LINGER_MS;
  const tasks = new Map<string, Promise<void>>();
  const opened = new Map<string, Promise<string>>();
  // Each loop's wake-up: a loop waits for an attempt or a read to end, or for its next look.
  const wakers = new Set<() => void>();
  let stopping = false;
  // settle(): loops end as soon as they have caught up, without lingering.
  let draining = false;
  const wakeAll = () => wakers.forEach((wake) => wake());

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
    // When the last read found nothing new (real time): the next look is IDLE_POLL_MS later.
    let exhaustedAt: number | null = null;
    let lastWorkAt = performance.now();
    let wake: (() => void) | null = null;
    const notify = () => {
      const resolve = wake;
      wake = null;
      resolve?.();
    };
    wakers.add(notify);
    const changed = (timeoutMs: number | null) =>
      new Promise<void>((resolve) => {
        const timer = timeoutMs === null ? null : setTimeout(notify, timeoutMs);
        wake = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
      });

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
          for (const r of chunk) {
            busy.delete(r.id);
            for (const read of reads) read.add(r.id);
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

    // An attempt recorded while a read ran is no longer busy, but the read may have seen it pending (its
    // snapshot older than the record): taking it again would send it twice. Each read in flight collects
    // what was recorded meanwhile, and keeps none of it.
    const reads = new Set<Set<string>>();
    const reading = async (read: () => Promise<repo.TakenDelivery[]>) => {
      const recorded = new Set<string>();
      reads.add(recorded);
      try {
        return { rows: await read(), recorded };
      } finally {
        reads.delete(recorded);
      }
    };
    const keep = ({ rows, recorded }: { rows: repo.TakenDelivery[]; recorded: Set<string> }): number => {
      let kept = 0;
      for (const d of rows) {
        if (busy.has(d.id) || recorded.has(d.id)) continue;
        busy.add(d.id);
        waiting.push(d);
        kept++;
      }
      return kept;
    };
    const take = async () => {
      const now = clock();
      const ahead = await reading(() => repo.takeDeliveries(db, endpoint.id, now, cursor, TAKE_BATCH));
      if (ahead.rows.length) cursor = ahead.rows[ahead.rows.length - 1]!.event_seq;
      let kept = keep(ahead);
      if (now.getTime() - rescannedAt >= (ahead.rows.length < TAKE_BATCH ? RESCAN_IDLE_MS : RESCAN_BUSY_MS)) {
        rescannedAt = now.getTime();
        kept += keep(await reading(() => repo.takeDeliveries(db, endpoint.id, now, '0', TAKE_BATCH + busy.size)));
      }
      exhaustedAt = kept === 0 ? performance.now() : null;
      if (kept) lastWorkAt = performance.now();
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

    // Pipelined: up to `concurrency` attempts in flight, the next batch read while they are sent (a
    // read starts as soon as fewer than a batch wait), and outcomes written in batches behind them.
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
        const lookDue = exhaustedAt === null || performance.now() - exhaustedAt >= IDLE_POLL_MS;
        if (!taking && lookDue && waiting.length < TAKE_BATCH) {
          taking = take()
            .catch((error) => {
              logger.error({ err: error, webhook: endpoint.id }, 'reading webhook deliveries failed');
              exhaustedAt = performance.now();
            })
            .finally(() => {
              taking = null;
              notify();
            });
        }
        while (waiting.length && inFlight.size < options.concurrency) {
          const run = attempt(waiting.shift()!).catch((error) => logger.error({ err: error }, 'webhook attempt failed'));
          inFlight.add(run);
          void run.finally(() => {
            inFlight.delete(run);
            lastWorkAt = performance.now();
            notify();
          });
        }
        if (!inFlight.size && !taking && !waiting.length) {
          // Caught up: keep the endpoint (and the cursor) a while, looking for new deliveries.
          if (draining || performance.now() - lastWorkAt >= lingerMs) break;
          await changed(Math.max(0, IDLE_POLL_MS - (performance.now() - (exhaustedAt ?? 0))));
          continue;
        }
        await changed(null);
      }
    } finally {
      await taking;
      await Promise.all(inFlight);
      await flush();
      wakers.delete(notify);
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
      draining = true;
      try {
        while (tasks.size) {
          wakeAll();
          await Promise.all([...tasks.values()]);
        }
      } finally {
        draining = false;
      }
    },
    stop() {
      stopping = true;
      wakeAll();
    },
    async close() {
      await Promise.all([...tasks.values()]);
      await sender.close();
    },
  };
}
