// The mailerdash binary as a child process, for the tests of its commands (src/cli*.test.ts).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

export const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'mailerdash.js');

export async function waitForHealth(port: number): Promise<boolean> {
  const deadline = Date.now() + 90_000; // a bound for a loaded machine, not a timing
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    if (res?.status === 200) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export interface CliRun {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/** Starts `mailerdash ARGS` without blocking the event loop (servers under test may be children of this process too). */
export function startCli(args: string[], env: NodeJS.ProcessEnv): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr })));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves once `check` holds of the output, or rejects when the process ends first or the bound passes. */
export async function waitForOutput(run: CliRun, check: (stdout: string) => boolean, what: string): Promise<void> {
  let ended = false;
  void run.exited.then(() => (ended = true));
  const deadline = Date.now() + 90_000; // a bound for a loaded machine, not a timing
  while (!check(run.stdout())) {
    if (ended || Date.now() > deadline) throw new Error(`no ${what}; stdout: ${run.stdout()} stderr: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
