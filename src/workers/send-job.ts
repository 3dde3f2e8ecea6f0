import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { verpAddress } from '../delivery/compose.ts';
import type { DkimKey, RsaSigner } from '../delivery/dkim.ts';
import type { HandOff } from '../delivery/hand-off.ts';
import { createLeaseHeartbeat } from '../delivery/lease-heartbeat.ts';
import type { MessageLinks } from '../delivery/links.ts';
import { silentObserver, type DeliveryObserver } from '../delivery/observer.ts';
import { asciiAddress } from '../delivery/mime-encoding.ts';
import * as queue from '../delivery/queue-repo.ts';
import type { SendResult } from '../delivery/smtp-outcome.ts';
import { suppressionBlocks } from '../delivery/suppression-rule.ts';
import { fullBucket, take, type Bucket } from '../delivery/token-bucket.ts';
import { singleProvider, type ProviderSet } from '../delivery/providers.ts';
import { isProviderFailure, type MessageRouter, type RouteChoice } from '../delivery/routing.ts';
import { outgoingMessage, type OutgoingMessage, type Transport } from '../delivery/transport.ts';
import { isCoalescing } from '../delivery/batching.ts';
import { NEVER } from '../modules/campaigns/repo.ts';
import { suppressAddress } from '../modules/addresses/standing.ts';
import { findSuppressions } from '../modules/suppressions/repo.ts';
import { ERASED_ADDRESS, type ErasedAddressHasher } from '../modules/suppressions/erased.ts';
import { createMessageRenderer } from './message-renderer.ts';
import type { Job } from './runner.ts';
import { outcomeOf, release } from './send-outcomes.ts';

export interface SendJobOptions {
  db: Kysely<DB>;
  /** Where mail goes: the named providers (every message without a route takes the default)… */
  providers?: ProviderSet;
  /** …or one transport as the only provider. */
  transport?: Transport;
  logger: Logger;
  /** MAILERDASH_HOSTNAME: the Message-ID domain. */
  hostname: string;
  /** MAILERDASH_BOUNCE_DOMAIN: the VERP return path domain. */
  bounceDomain: string;
  /** The DKIM key for mail from an address of a key, or null (sent unsigned). */
  signingKeyFor?: (keyId: string, fromAddress: string) => Promise<DkimKey | null>;
  signer?: RsaSigner;
  links?: MessageLinks;
  /** Chooses providers for messages with a routing policy (batches); without it every message takes the default provider. */
  router?: MessageRouter;
  /** Bulk messages the campaign dispatcher of this process created already claimed for this job. */
  handOff?: HandOff;
  /** Awaited before each round that renders (the link signer loads its secret once). */
  linksReady?: () => Promise<void>;
  /** With it, an erased address's hashed suppression entry stops its messages too. */
  erased?: ErasedAddressHasher;
  /** Bulk messages per second (0 = unlimited) and in flight at once. */
  bulkRate: number;
  bulkConcurrency: number;
  transConcurrency?: number;
  /** Most messages claimed per round. */
  batchSize?: number;
  /**
   * How long a claim holds before another worker may take the message over (default: the hand-off's
   * lease). The job renews the leases of what it still holds while it lives (src/delivery/lease-heartbeat.ts).
   */
  leaseMs?: number;
  /** Logs and counts each attempt and outcome (src/delivery/observer.ts). */
  observer?: DeliveryObserver;
  now?: () => Date;
  random?: () => number;
}

/** How long a claim holds by default before another worker may take the message over (renewed while the sender lives). */
export const CLAIM_LEASE_MS = 30_000;
const FLUSH_DELAY_MS = 25;
const FLUSH_BATCH = 500;
/** Batches one round may chain before it returns (so the runner's other work is not starved). */
const MAX_BATCHES_PER_ROUND = 20;
/** Most rendered messages one job holds waiting for a gathering provider's batch call. */
const MAX_GATHERED = 1000;
/** How long a message waits when its suppression check could not be made. */
const SUPPRESSION_RETRY_MS = 30_000;

/**
 * The delivery job: claims due messages (transactional lane first), renders each from its
 * content's compiled skeleton, signs it, hands it to the transport and records the outcome.
 */
export function createSendJob(options: SendJobOptions): Job & { stop(): void; close(): Promise<void>; renewLeases(): Promise<number> } {
  const { db, logger } = options;
  const observer = options.observer ?? silentObserver;
  const providers = options.providers ?? singleProvider(options.transport!);
  const clock = options.now ?? (() => new Date());
  const random = options.random ?? Math.random;
  const batchSize = options.batchSize ?? 500;
  const leaseMs = options.leaseMs ?? options.handOff?.leaseMs ?? CLAIM_LEASE_MS;
  const transConcurrency = options.transConcurrency ?? 16;
  const limits = { rate: options.bulkRate, capacity: Math.max(1, options.bulkRate) };
  let bucket: Bucket = fullBucket(limits, clock().getTime());
  let stopping = false;
  const renderer = createMessageRenderer({ db, hostname: options.hostname, links: options.links, signingKeyFor: options.signingKeyFor, signer: options.signer });
  const heartbeat = createLeaseHeartbeat({ db, leaseMs, logger, now: clock, alsoHeld: () => options.handOff?.waiting() ?? [] });

  /** A provider's transport for a message of a key (the key's own providers once prepared); null when it has none of that name. */
  function transportOf(name: string, keyId: string): Transport | null {
    try {
      return providers.get(name, keyId);
    } catch {
      return null;
    }
  }

  /** Opens the keys' own providers that routing chose (a batch policy may name them). */
  async function prepareKeyProviders(choices: Array<[string, RouteChoice | undefined]>): Promise<void> {
    if (!providers.prepare) return;
    const byKey = new Map<string, string[]>();
    for (const [keyId, choice] of choices) {
      if (choice?.kind !== 'send' || providers.has(choice.provider)) continue;
      const names = byKey.get(keyId);
      if (names) names.push(choice.provider);
      else byKey.set(keyId, [choice.provider]);
    }
    for (const [keyId, names] of byKey) await providers.prepare(keyId, names);
  }

  return {
    name: 'send',
    /** Renews the leases due for it now (the heartbeat's timer does this on its own). */
    renewLeases: () => heartbeat.beat(),
    stop() {
      stopping = true;
    },
    async close() {
      // Handed messages nobody will send now: back to the queue for any worker, not after a lease.
      const left = options.handOff?.takeAll() ?? [];
      if (left.length) {
        try {
          await queue.recordOutcomes(db, left.map((m) => release(m, null)), clock());
        } catch (error) {
          logger.error({ err: error, count: left.length }, 'giving back handed messages failed; their leases will lapse');
        }
      }
      heartbeat.stop();
      await providers.close();
    },
    async runOnce() {
      if (stopping) return 0;

      // Group commit: outcomes are written within FLUSH_DELAY_MS of being known (at once past
      // FLUSH_BATCH), so a crash repeats only the sends of the last moments, and each write carries
      // many rows (a statement's fixed cost dominates on the embedded database).
      const pending: queue.Outcome[] = [];
      let flushing: Promise<void> | null = null;
      let timer: NodeJS.Timeout | null = null;
      const bounces: Array<{ message: queue.ClaimedMessage; reply: string }> = [];
      const drainPending = async () => {
        while (pending.length) {
          const chunk = pending.splice(0);
          try {
            await queue.recordOutcomes(db, chunk, clock());
          } catch (error) {
            // The leases lapse and the messages are tried again: a repeat rather than a loss.
            logger.error({ err: error, count: chunk.length }, 'recording send outcomes failed');
          }
        }
      };
      const flush = (): Promise<void> => {
        if (timer) clearTimeout(timer);
        timer = null;
        // Reset only once settled (never synchronously), so a later call always starts a new drain.
        flushing ??= drainPending().finally(() => {
          flushing = null;
        });
        return flushing;
      };
      const record = (outcome: queue.Outcome, settled?: queue.ClaimedMessage) => {
        heartbeat.release(outcome.id);
        if (settled) observer.settled(settled, outcome);
        pending.push(outcome);
        if (pending.length >= FLUSH_BATCH) void flush();
        else timer ??= setTimeout(flush, FLUSH_DELAY_MS);
      };

      const routes = new Map<string, RouteChoice>();
      const suppressed = new Map<string, string>();
      const unchecked = new Set<string>();
      const halted = new Map<string, 'paused' | 'cancelled'>();
      /** Claims the next batch (transactional lane first) with its contents and suppressions loaded. */
      const claimBatch = async (): Promise<queue.ClaimedMessage[]> => {
        const now = clock();
        const claimed = await queue.claimDue(db, 0, batchSize, now, leaseMs);
        if (claimed.length < batchSize) {
          const grant = take(bucket, limits, now.getTime(), batchSize - claimed.length);
          const handed = options.handOff?.take(grant.granted) ?? [];
          const bulk = await queue.claimDue(db, 1, grant.granted - handed.length, now, leaseMs);
          // A handed message's lease began when it was made: renewed at the next beat if still held.
          heartbeat.hold(handed, now.getTime() + leaseMs / 2);
          // Unused tokens go back: the bucket only pays for what was claimed.
          bucket = { ...grant.bucket, tokens: grant.bucket.tokens + (grant.granted - handed.length - bulk.length) };
          claimed.push(...handed, ...bulk);
        }
        if (!claimed.length) return claimed;
        heartbeat.hold(claimed, now.getTime() + leaseMs);
        await renderer.load(claimed.map((m) => m.content_id));
        await options.linksReady?.();
        // Claimed (or handed over) before a pause or cancel: held or dropped rather than sent.
        const campaignIds = [...new Set(claimed.flatMap((m) => (m.campaign_id ? [m.campaign_id] : [])))];
        try {
          for (const [id, status] of await queue.haltedCampaigns(db, campaignIds)) halted.set(id, status);
        } catch (error) {
          logger.error({ err: error }, 'campaign status check failed; messages wait');
          for (const m of claimed) if (m.campaign_id) unchecked.add(m.id);
        }
        if (options.router && claimed.some((m) => m.batch_id)) {
          try {
            const routed = claimed.filter((m) => m.batch_id);
            for (const [id, choice] of await options.router.plan(routed, now)) routes.set(id, choice);
            await prepareKeyProviders(routed.map((m) => [m.key_id, routes.get(m.id)]));
          } catch (error) {
            logger.error({ err: error }, 'routing batch messages failed; they wait');
            for (const m of claimed) if (m.batch_id) unchecked.add(m.id);
          }
        }
        const byKey = new Map<string, queue.ClaimedMessage[]>();
        for (const m of claimed) {
          const group = byKey.get(m.key_id);
          if (group) group.push(m);
          else byKey.set(m.key_id, [m]);
        }
        for (const [keyId, messages] of byKey) {
          try {
            const erasedKeys = options.erased ? await options.erased.keysFor(keyId) : undefined;
            for (const row of await findSuppressions(db, keyId, messages.map((m) => m.to_email), erasedKeys)) suppressed.set(`${keyId}|${row.email}`, row.reason);
          } catch (error) {
            logger.error({ err: error, keyId }, 'suppression check failed; messages wait');
            for (const m of messages) unchecked.add(m.id);
          }
        }
        return claimed;
      };

      const handle = async (message: queue.ClaimedMessage) => {
        const now = clock();
        if (stopping || unchecked.has(message.id)) {
          record(release(message, stopping ? null : new Date(now.getTime() + SUPPRESSION_RETRY_MS)));
          return;
        }
        const base = { id: message.id, attempts: message.attempts, dueAt: null, sentAt: null };
        const halt = message.campaign_id ? halted.get(message.campaign_id) : undefined;
        if (halt === 'paused') {
          record(release(message, NEVER));
          return;
        }
        if (halt === 'cancelled') {
          record({ ...base, status: 'dropped', response: 'campaign cancelled', event: { type: 'dropped', data: { reason: 'campaign cancelled' } } }, message);
          return;
        }
        const route = routes.get(message.id);
        if (route?.kind === 'wait') {
          record(release(message, route.until));
          return;
        }
        if (route?.kind === 'drop') {
          record({ ...base, status: 'dropped', response: route.reason, event: { type: 'dropped', data: { reason: route.reason } } }, message);
          return;
        }
        const content = renderer.content(message.content_id);
        if (!content || content instanceof Error) {
          const reason = content ? `content cannot be rendered: ${content.message}` : 'content not found';
          record({ ...base, status: 'failed', response: reason, event: { type: 'failed', data: { response: reason } } }, message);
          return;
        }
        if (message.to_email === ERASED_ADDRESS) {
          // Erased while it was being sent: the attempt that held it may have deferred it; it never goes again.
          record({ ...base, status: 'dropped', response: null, event: { type: 'dropped', data: { reason: 'erased' } } });
          return;
        }
        const reason = suppressed.get(`${message.key_id}|${message.to_email.toLowerCase()}`);
        if (content.settings.sandbox || (reason && suppressionBlocks(message.channel, reason))) {
          const why = content.settings.sandbox ? 'sandbox' : `suppressed (${reason})`;
          record({ ...base, status: 'dropped', response: null, event: { type: 'dropped', data: { reason: why } } }, message);
          return;
        }
        let parts: Buffer[];
        try {
          parts = await renderer.render(message, content, now);
        } catch (error) {
          const response = `rendering failed: ${(error as Error).message}`;
          record({ ...base, status: 'failed', response, event: { type: 'failed', data: { response } } }, message);
          return;
        }
        const outgoing = outgoingMessage({ id: message.id, envelopeFrom: options.links ? options.links.returnPath(message.id) : verpAddress(message.id, options.bounceDomain), recipient: asciiAddress(message.to_email) }, parts);
        const first = route?.provider ?? providers.defaultName;
        const delivery = deliver(message, outgoing, first, route !== undefined);
        // A provider that gathers messages into batch calls answers only once its call is made: the
        // lane goes on rendering meanwhile, so a call can carry more than the lanes' number of messages.
        const firstTransport = transportOf(first, message.key_id);
        if (firstTransport && isCoalescing(firstTransport)) return { delivery };
        await delivery;
      };

      const deliver = async (message: queue.ClaimedMessage, outgoing: OutgoingMessage, first: string, routed: boolean) => {
        const sendVia = async (name: string): Promise<SendResult> => {
          const transport = transportOf(name, message.key_id);
          if (!transport) return { outcome: 'temporary', reply: `provider ${name} is not configured (any more)`, stage: 'connect' };
          const started = performance.now();
          const reply = await transport.send(outgoing);
          observer.attempted(name, reply, (performance.now() - started) / 1000);
          return reply;
        };
        let provider = first;
        let result = await sendVia(provider);
        // A routed message the provider failed for its own reasons moves to the next provider with room, at once.
        while (options.router && routed && isProviderFailure(result)) {
          const next = await options.router.failover(message, provider, result, clock());
          if (!next) break;
          provider = next;
          // Not opened: the send below finds no such provider and defers the message.
          await prepareKeyProviders([[message.key_id, { kind: 'send', provider }]]).catch((error) => logger.error({ err: error, provider }, 'opening a key\'s provider failed'));
          result = await sendVia(provider);
        }
        const outcome = { ...outcomeOf(message, result, clock(), random()), provider, providerMessageId: result.providerMessageId ?? null };
        if (outcome.status === 'bounced') bounces.push({ message, reply: result.reply });
        record(outcome, message);
      };

      const first = await claimBatch();
      if (!first.length) return 0;
      // The next batch is claimed while this one sends (when fewer than half a batch wait), so the
      // connections never stand idle between batches nor drain at each batch's end.
      let handled = 0;
      let rounds = 0;
      let more = true;
      let refill: Promise<void> | null = null;
      const lanes = [
        { waiting: [] as queue.ClaimedMessage[], active: 0, limit: transConcurrency },
        { waiting: [] as queue.ClaimedMessage[], active: 0, limit: options.bulkConcurrency },
      ];
      const running = new Set<Promise<void>>();
      const enqueue = (batch: queue.ClaimedMessage[]) => {
        handled += batch.length;
        rounds++;
        // Only a full batch with bulk mail in it chains another: transactional rounds stay one batch.
        if (batch.length < batchSize || !batch.some((m) => m.lane !== 0) || rounds >= MAX_BATCHES_PER_ROUND) more = false;
        for (const m of batch) lanes[m.lane === 0 ? 0 : 1]!.waiting.push(m);
        for (const lane of lanes) while (lane.active < lane.limit && lane.active < lane.waiting.length) startLane(lane);
      };
      const topUp = () => {
        if (!more || refill || stopping || lanes[0]!.waiting.length + lanes[1]!.waiting.length > batchSize / 2) return;
        refill = claimBatch().then(enqueue, (error) => {
          more = false;
          logger.error({ err: error }, 'claiming the next batch failed');
        }).finally(() => {
          refill = null;
        });
      };
      /** Deliveries waiting on a gathering provider's call, bounded so claimed messages are not all rendered at once. */
      const gathered = new Set<Promise<void>>();
      const detach = async (delivery: Promise<void>) => {
        const tracked = delivery.finally(() => gathered.delete(tracked));
        gathered.add(tracked);
        running.add(tracked);
        void tracked.finally(() => running.delete(tracked)).catch(() => {});
        while (gathered.size >= MAX_GATHERED) await Promise.race(gathered);
      };
      function startLane(lane: (typeof lanes)[number]): void {
        lane.active++;
        const run = (async () => {
          try {
            for (let m = lane.waiting.shift(); m; m = lane.waiting.shift()) {
              topUp();
              const detached = await handle(m);
              if (detached) await detach(detached.delivery);
            }
          } finally {
            lane.active--;
          }
        })();
        running.add(run);
        void run.finally(() => running.delete(run)).catch(() => {});
      }
      enqueue(first);
      while (running.size || refill) await Promise.all([...running, refill]);
      await flush();
      if (options.router) {
        try {
          await options.router.flush(clock());
        } catch (error) {
          logger.error({ err: error }, 'writing routing decisions failed');
        }
      }
      for (const { message, reply } of bounces) {
        try {
          await suppressAddress(db, { keyId: message.key_id, email: message.to_email, reason: 'bounce', sourceType: 'message', sourceId: message.id, detail: reply });
        } catch (error) {
          logger.error({ err: error, messageId: message.id }, 'adding a bounce suppression failed');
        }
      }
      return handled;
    },
  };
}

