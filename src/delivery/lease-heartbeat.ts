import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { PREPARED } from '../db/prepared.ts';

/**
 * The send lease heartbeat. A claim (or a hand-off) leases a message to one sender for `leaseMs`;
 * while that sender lives it renews the lease of every message it still holds before the lease is
 * half gone, so the lease can be short and a dead sender's messages are taken over within one lease
 * (seconds), not after a long fixed wait. A message sent within half a lease (nearly all of them) is
 * never renewed: the heartbeat costs nothing on the hot path.
 *
 * A renewal names the attempt it holds (id and attempts): once a lease lapsed and another worker
 * claimed the message again (attempts went up), the old holder renews nothing.
 */

export interface HeldMessage {
  id: string;
  attempts: number;
  /** When its lease ends, as far as this sender knows (epoch ms). */
  until: number;
}

/** The held messages whose lease should be renewed now: those with half a lease or less left. */
export function dueForRenewal(held: Iterable<HeldMessage>, nowMs: number, leaseMs: number): HeldMessage[] {
  const due: HeldMessage[] = [];
  for (const message of held) if (message.until - nowMs <= leaseMs / 2) due.push(message);
  return due;
}

/** Extends the leases of the given attempts still in flight; answers how many were extended. */
export async function extendLeases(db: Kysely<DB>, held: Array<{ id: string; attempts: number }>, until: Date): Promise<number> {
  if (!held.length) return 0;
  const rows = JSON.stringify(held.map((m) => ({ id: m.id, attempts: m.attempts })));
  // The id array makes it a primary-key probe per row (as the outcome statement does).
  const result = await sql`${PREPARED}
    update messages m set lease_until = ${until}
    from jsonb_to_recordset(${rows}::jsonb) as v(id text, attempts int)
    where m.id = any (${held.map((m) => m.id)}::text[]) and m.id = v.id
      and m.attempts = v.attempts and m.status = 'sending' and m.lease_until is not null`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export interface LeaseHeartbeat {
  /** Starts holding messages whose lease ends at `untilMs` (kept if already held). */
  hold(messages: Array<{ id: string; attempts: number }>, untilMs: number): void;
  /** Stops holding a message (its outcome is being recorded). */
  release(id: string): void;
  /** Renews what is due now (the timer calls it; tests call it directly). */
  beat(): Promise<number>;
  /** How many messages are held. */
  readonly size: number;
  stop(): void;
}

export function createLeaseHeartbeat(options: {
  db: Kysely<DB>;
  leaseMs: number;
  logger: Logger;
  now?: () => Date;
  /** Messages held elsewhere for this sender (the hand-off), with when each was handed over (epoch ms). */
  alsoHeld?: () => Iterable<{ id: string; attempts: number; since: number }>;
}): LeaseHeartbeat {
  const { db, leaseMs, logger } = options;
  const clock = options.now ?? (() => new Date());
  const held = new Map<string, HeldMessage>();
  let timer: NodeJS.Timeout | null = null;
  let beating: Promise<number> | null = null;

  const ensureTimer = () => {
    if (timer) return;
    timer = setInterval(() => void heartbeat.beat(), Math.max(50, Math.floor(leaseMs / 4)));
    timer.unref();
  };

  const heartbeat: LeaseHeartbeat = {
    hold(messages, untilMs) {
      for (const m of messages) if (!held.has(m.id)) held.set(m.id, { id: m.id, attempts: m.attempts, until: untilMs });
      if (held.size) ensureTimer();
    },
    release(id) {
      held.delete(id);
    },
    get size() {
      return held.size;
    },
    beat() {
      beating ??= (async () => {
        const now = clock().getTime();
        const waiting = [...(options.alsoHeld?.() ?? [])].filter((m) => !held.has(m.id)).map((m) => ({ id: m.id, attempts: m.attempts, until: m.since + leaseMs }));
        const due = [...dueForRenewal(held.values(), now, leaseMs), ...dueForRenewal(waiting, now, leaseMs)];
        if (!due.length) return 0;
        const until = now + leaseMs;
        try {
          const extended = await extendLeases(db, due, new Date(until));
          // Renewed hand-off messages are held from now on, so they are renewed only when due again.
          for (const m of due) held.set(m.id, { ...m, until });
          return extended;
        } catch (error) {
          // The leases may lapse and another worker take the messages over: a repeat, never a loss.
          logger.error({ err: error, count: due.length }, 'renewing send leases failed');
          return 0;
        }
      })().finally(() => {
        beating = null;
      });
      return beating;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
  return heartbeat;
}
