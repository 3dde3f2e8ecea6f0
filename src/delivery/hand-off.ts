import type { ClaimedMessage } from './queue-repo.ts';

/**
 * Bulk messages created already leased to this process's sender (a campaign chunk is inserted as
 * `sending` with a lease, in the transaction that advances the cursor), so the sender skips
 * claiming them: one write per message less. The rows carry the same lease as a claim; if this
 * process dies they lapse and any worker takes them over, exactly as claimed messages do.
 *
 * Its capacity keeps every message sent well within its lease: at most `capacity` wait, and with a
 * bulk rate, no more than a quarter of the lease's worth at that rate.
 */
export interface HandOff {
  /** How long a handed message's lease lasts (the sender's claim lease). */
  readonly leaseMs: number;
  /** How many more messages may be handed over now. */
  room(): number;
  /** Resolves true once there is room for `wanted` (at most the capacity), or false after timeoutMs. */
  waitForRoom(wanted: number, timeoutMs: number): Promise<boolean>;
  put(messages: ClaimedMessage[]): void;
  /** Up to `max` of the waiting messages, oldest first. */
  take(max: number): ClaimedMessage[];
  /** Everything waiting (the sender gives these back when it stops). */
  takeAll(): ClaimedMessage[];
  /** What waits, each with when it was handed over (epoch ms): the sender's lease heartbeat renews these too. */
  waiting(): Iterable<{ id: string; attempts: number; since: number }>;
}

export function handOffCapacity(bulkRate: number, leaseMs: number, defaultCapacity = 2000): number {
  if (bulkRate <= 0) return defaultCapacity;
  return Math.max(1, Math.min(defaultCapacity, Math.floor((bulkRate * leaseMs) / 4000)));
}

export function createHandOff(options: { capacity: number; leaseMs: number; now?: () => number }): HandOff {
  const now = options.now ?? Date.now;
  let waiting: ClaimedMessage[] = [];
  const handedAt = new Map<string, number>();
  const roomWaiters = new Set<() => void>();
  const room = () => Math.max(0, options.capacity - waiting.length);

  return {
    leaseMs: options.leaseMs,
    room,
    waitForRoom(wanted, timeoutMs) {
      const enough = () => room() >= Math.min(Math.max(1, wanted), options.capacity);
      if (enough()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const check = (timedOut: boolean) => {
          if (!timedOut && !enough()) return;
          clearTimeout(timer);
          roomWaiters.delete(wake);
          resolve(enough());
        };
        const wake = () => check(false);
        const timer = setTimeout(() => check(true), timeoutMs);
        roomWaiters.add(wake);
      });
    },
    put(messages) {
      const at = now();
      for (const m of messages) handedAt.set(m.id, at);
      waiting.push(...messages);
    },
    take(max) {
      const taken = waiting.slice(0, Math.max(0, max));
      waiting = waiting.slice(taken.length);
      for (const m of taken) handedAt.delete(m.id);
      if (taken.length) for (const wake of [...roomWaiters]) wake();
      return taken;
    },
    takeAll() {
      const taken = waiting;
      waiting = [];
      handedAt.clear();
      for (const wake of [...roomWaiters]) wake();
      return taken;
    },
    *waiting() {
      for (const m of waiting) yield { id: m.id, attempts: m.attempts, since: handedAt.get(m.id) ?? now() };
    },
  };
}

/**
 * How many to make this round for a hand-off: a whole chunk once there is room for one (fewer,
 * fuller statements than making whatever room there is), 0 when none came within waitMs.
 */
export async function handOffLimit(handOff: HandOff | undefined, chunkSize: number, waitMs: number): Promise<number> {
  if (!handOff) return chunkSize;
  if (!(await handOff.waitForRoom(chunkSize, waitMs))) return 0;
  return Math.min(chunkSize, handOff.room());
}
