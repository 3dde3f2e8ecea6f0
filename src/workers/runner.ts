import type { Logger } from 'pino';

/** A kind of background work: claims some due rows, handles them, and says how many. */
export interface Job {
  name: string;
  /** Claims and handles one round of due work; returns how many items it handled (0: nothing due). */
  runOnce(): Promise<number>;
  /** Called when the runner begins to stop: take no new work; the current round finishes. */
  stop?(): void;
  /** Called once every round has ended: release connections and threads. */
  close?(): Promise<void>;
}

export interface WorkerRunner {
  start(): void;
  /** Ends idle waits at once, e.g. after the API in the same process queued something. */
  wake(): void;
  /** Stops taking work and resolves once every job's current round has finished. */
  stop(): Promise<void>;
  /** Runs every job until none has anything due (tests and one-off runs). */
  drain(maxRounds?: number): Promise<number>;
}

export function createWorkerRunner(options: { jobs: Job[]; pollMs: number; logger: Logger }): WorkerRunner {
  const { jobs, pollMs, logger } = options;
  let stopping = false;
  let loops: Promise<void>[] = [];
  const sleepers = new Set<() => void>();

  function idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      sleepers.add(done);
    });
  }

  async function loop(job: Job, index: number): Promise<void> {
    // First rounds are spread over one poll interval instead of all at once: each is cold (its queries
    // planned, its tables' pages read for the first time), and a dozen together on PGlite's one
    // connection queued the first requests behind them. Waking (work queued) ends the wait as any idle.
    await idle(((index + 1) * pollMs) / jobs.length);
    let failures = 0;
    while (!stopping) {
      let handled = 0;
      try {
        handled = await job.runOnce();
        failures = 0;
      } catch (error) {
        failures++;
        logger.error({ err: error, job: job.name }, 'job round failed');
        await idle(Math.min(pollMs * 2 ** failures, 30_000));
        continue;
      }
      if (handled === 0 && !stopping) await idle(pollMs);
    }
  }

  return {
    start() {
      stopping = false;
      loops = jobs.map(loop);
    },
    wake() {
      for (const wakeUp of [...sleepers]) wakeUp();
    },
    async stop() {
      stopping = true;
      for (const job of jobs) job.stop?.();
      for (const wakeUp of [...sleepers]) wakeUp();
      await Promise.all(loops);
      await Promise.all(jobs.map((job) => job.close?.()));
    },
    async drain(maxRounds = 10_000) {
      let total = 0;
      for (let round = 0; round < maxRounds; round++) {
        let handled = 0;
        for (const job of jobs) handled += await job.runOnce();
        total += handled;
        if (handled === 0) return total;
      }
      throw new Error(`work still due after ${maxRounds} rounds`);
    },
  };
}
