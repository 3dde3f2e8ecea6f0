// bench:startup: how fast the compiled binary starts, measured with hyperfine (installed with apt-get
// when missing). Each figure is printed as a ratio of its goal from issue 15; the goal is the ceiling.
// Warm means the data directory / database is already migrated and the OS file cache is hot.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function ensureHyperfine() {
  if (spawnSync('sh', ['-c', 'command -v hyperfine']).status === 0) return;
  console.log('installing hyperfine (apt-get)…');
  execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null'], { stdio: 'inherit' });
}

ensureHyperfine();
if (spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);

const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-startup-'));
const base = { ...process.env, MAILERDASH_DATA_DIR: dataDir, LOG_LEVEL: 'warn', PORT: '39781', MAILERDASH_ADMIN_KEY: 'md_bench_admin_secret_0123456789abcdef' };
delete base.DATABASE_URL;
const pgUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const cases = [
  { name: 'start to /readyz, PGlite', goal: 1.5, command: 'node bench/support/start-until-ready.mjs', env: base },
  { name: 'start to /readyz, PostgreSQL', goal: 1.0, command: 'node bench/support/start-until-ready.mjs', env: { ...base, DATABASE_URL: pgUrl } },
  { name: 'mailerdash --help', goal: 0.3, command: 'node bin/mailerdash.js --help', env: base },
  { name: 'mailerdash keys list (PGlite)', goal: 1.0, command: 'node bin/mailerdash.js keys list', env: base },
];

// Migrate both databases first so every measured run is a warm start.
execFileSync(process.execPath, ['bin/mailerdash.js', 'migrate'], { env: base, stdio: 'ignore' });
const pgReachable = spawnSync(process.execPath, ['bin/mailerdash.js', 'migrate'], { env: { ...base, DATABASE_URL: pgUrl }, stdio: 'ignore' }).status === 0;

const rows = [];
for (const c of cases) {
  if (c.env.DATABASE_URL && !pgReachable) {
    console.log(`${c.name}: skipped (PostgreSQL at ${pgUrl} is unreachable)`);
    continue;
  }
  const json = path.join(dataDir, 'hyperfine.json');
  const run = spawnSync('hyperfine', ['--warmup', '1', '--runs', process.env.BENCH_RUNS ?? '5', '--ignore-failure', '--style', 'none', '--export-json', json, c.command], { env: c.env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) process.exit(run.status ?? 1);
  const { mean, stddev, min } = JSON.parse(readFileSync(json, 'utf8')).results[0];
  rows.push({ name: c.name, mean, stddev, min, goal: c.goal });
}
rmSync(dataDir, { recursive: true, force: true });

for (const r of rows) {
  const ratio = r.mean / r.goal;
  console.log(`${r.name.padEnd(32)} mean ${r.mean.toFixed(3)} s ± ${r.stddev.toFixed(3)} (min ${r.min.toFixed(3)})  goal ${r.goal} s  ratio ${ratio.toFixed(2)} ${ratio <= 1 ? 'ok' : 'OVER'}`);
}
