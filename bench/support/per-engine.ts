// The shape of every per-engine benchmark: run as the parent, it spawns itself once per engine (so CPU
// and RSS are each engine's own); run with --engine NAME, it measures that engine.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ensurePostfixTools } from './postfix.ts';

export async function runPerEngine(moduleUrl: string, defaultEngines: string, child: (engine: string) => Promise<void>, header = ''): Promise<void> {
  const engineArg = process.argv.indexOf('--engine');
  if (engineArg > 0) return child(process.argv[engineArg + 1]!);
  ensurePostfixTools();
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}${header}`);
  for (const engine of (process.env.BENCH_ENGINES ?? defaultEngines).split(',')) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(moduleUrl), '--engine', engine], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = 1;
  }
}
