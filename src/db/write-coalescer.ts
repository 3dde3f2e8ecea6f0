import type { Kysely, Transaction } from 'kysely';

export interface WriteCoalescerOptions<DBT, Item> {
  db: Kysely<DBT>;
  /** Writes a whole group of items (multi-row inserts); throws if any item cannot be written. */
  write(db: Kysely<DBT> | Transaction<DBT>, items: Item[]): Promise<void>;
  /** Whether a group needs a transaction around write(); say no when write() is one statement (atomic on its own). Default: always. */
  needsTransaction?(items: Item[]): boolean;
  /** Called after each commit with the items it made durable (e.g. to wake a worker). */
  afterCommit?(items: Item[]): void;
  /** Most items in one transaction. */
  maxBatch?: number;
  /** Most transactions in flight at once; more items wait and join the next group. */
  maxInFlight?: number;
}

export interface WriteCoalescer<Item> {
  /** Resolves once the item is committed; rejects with the error of writing it (never a neighbour's). */
  submit(item: Item): Promise<void>;
  /** Resolves when nothing is pending or being written. */
  idle(): Promise<void>;
}

interface Pending<Item> {
  item: Item;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Groups the writes of concurrent requests into one transaction (or one statement), flushed on the next tick.
 * One commit for many requests is what makes accepting fast; if a group fails, each of its items
 * is retried in a transaction of its own, so one bad item fails alone and its neighbours commit.
 */
export function createWriteCoalescer<DBT, Item>(options: WriteCoalescerOptions<DBT, Item>): WriteCoalescer<Item> {
  const { db, write } = options;
  const maxBatch = options.maxBatch ?? 500;
  const maxInFlight = options.maxInFlight ?? 2;
  let queue: Pending<Item>[] = [];
  let scheduled = false;
  let inFlight = 0;
  let idleWaiters: Array<() => void> = [];

  async function commit(items: Item[]): Promise<void> {
    if (options.needsTransaction?.(items) ?? true) await db.transaction().execute((trx) => write(trx, items));
    else await write(db, items);
    try {
      options.afterCommit?.(items);
    } catch {
      // a wake-up hook failing must not turn a committed write into an error
    }
  }

  async function flushGroup(group: Pending<Item>[]): Promise<void> {
    try {
      await commit(group.map((p) => p.item));
      for (const p of group) p.resolve();
      return;
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return;
      }
    }
    await Promise.all(
      group.map(async (p) => {
        try {
          await commit([p.item]);
          p.resolve();
        } catch (error) {
          p.reject(error);
        }
      }),
    );
  }

  function pump(): void {
    scheduled = false;
    while (queue.length && inFlight < maxInFlight) {
      const group = queue.slice(0, maxBatch);
      queue = queue.slice(group.length);
      inFlight++;
      void flushGroup(group).finally(() => {
        inFlight--;
        if (queue.length) schedule();
        else if (inFlight === 0) {
          const waiters = idleWaiters;
          idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  }

  return {
    submit(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
    idle() {
      if (!queue.length && inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
