// Worker processes for the crash tests: started with tsx, ready when they print "ready", killed with
// SIGKILL or stopped with SIGTERM. Waits are bounded, never sleeps.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Rejects with `what` when the promise has not settled within `ms` (an overall bound, not a sleep). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts `script` as a worker; resolves once it printed "ready". `onText` sees everything it prints. */
export function startWorker(script: string, env: Record<string, string>, onText: (text: string) => void = () => {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return within(
    new Promise((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`worker exited early with ${code ?? signal}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        if (text.includes('ready')) resolve(child);
        onText(text);
      });
    }),
    // Generous: a worker compiles its sources with tsx at start, which takes long on a loaded machine.
    90_000,
    'a worker to be ready',
  );
}

export async function killWorker(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Stops a worker gracefully (it finishes and records its work) and checks it exited cleanly. */
export async function stopWorker(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await within(exited, 15_000, 'a worker to stop');
  assert.equal(code, 0, 'a graceful stop');
}
