// What the sending benchmarks (bench:campaign, bench:sequences, bench:batch) share: one child process
// per engine, the machine line, and their throughput lines against the smtp-source ceiling.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ensurePostfixTools } from './postfix.ts';

export const n = (x: number) => Math.round(x).toLocaleString('en-US');

/** "X msg/s = Y% of smtp-source": a rate against the ceiling measured in the same run. */
export const ofCeiling = (rate: number, ceiling: number) => `${n(rate)} msg/s = ${Math.round((100 * rate) / ceiling)}% of smtp-source`;

export function ceilingLine(ceiling: number): string {
  return `  smtp-source -> smtp-sink (ceiling): ${n(ceiling)} msg/s`;
}

/**
 * Run as `script --engine E`: the benchmark for that engine. Run plainly: the machine line, then a
 * child process per engine of BENCH_ENGINES (each with a heap and a database of its own).
 */
export async function runPerEngine(
  scriptUrl: string,
  child: (engine: string) => Promise<void>,
  { nodeArgs = [], defaultEngines = 'postgres,pglite', header = '' }: { nodeArgs?: string[]; defaultEngines?: string; header?: string } = {},
): Promise<void> {
  const engineArg = process.argv.indexOf('--engine');
  if (engineArg > 0) {
    await child(process.argv[engineArg + 1]!);
    return;
  }
  ensurePostfixTools();
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}${header}`);
  for (const engine of (process.env.BENCH_ENGINES ?? defaultEngines).split(',')) {
    const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', fileURLToPath(scriptUrl), '--engine', engine], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = 1;
  }
}
