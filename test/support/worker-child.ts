// The running part of every worker child process (send, batch, webhook crash tests): the jobs on a
// runner, stopped gracefully on SIGTERM; "ready" tells the parent (worker-process.ts) it runs.
import type { Logger } from 'pino';
import type { Database } from '../../src/db/database.ts';
import { createWorkerRunner, type Job, type WorkerRunner } from '../../src/workers/runner.ts';

export function serveJobs(jobs: Job[], database: Database, logger: Logger, pollMs = 20): WorkerRunner {
  const runner = createWorkerRunner({ jobs, pollMs, logger });
  runner.start();
  process.once('SIGTERM', async () => {
    await runner.stop();
    await database.close();
    process.exit(0);
  });
  console.log('ready');
  return runner;
}
