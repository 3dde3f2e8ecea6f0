// Benchmark (not a test): a 1,000,000-row CSV contacts import through the API (POST /v1/bulk/contacts/import,
// text/csv, streamed), then the same file again (all updates), on PostgreSQL (COPY into a staging table)
// and PGlite (batched inserts). The API runs in a child process so its peak RSS is its own.
// npm run bench:import    (BENCH_ROWS=1000000, BENCH_ENGINES=postgres,pglite, BENCH_DATABASE_URL=postgres://...)
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase } from '../test/support/scratch-postgres.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ENGINES = (process.env.BENCH_ENGINES ?? 'postgres,pglite').split(',') as ('postgres' | 'pglite')[];
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function csvFile(rows: number): Promise<string> {
  const file = path.join(os.tmpdir(), `mailerdash-import-${rows}.csv`);
  if (fs.existsSync(file)) return file;
  const out = fs.createWriteStream(`${file}.part`);
  const plans = ['free', 'pro', 'enterprise'];
  const cities = ['CDMX', 'Madrid', 'Bogotá', 'Lima', '"Buenos Aires, AR"'];
  out.write('email,name,plan,city\n');
  for (let i = 0; i < rows; i += 10_000) {
    let chunk = '';
    for (let j = i; j < Math.min(rows, i + 10_000); j++) chunk += `user${j}@example${j % 97}.com,Usuario ${j},${plans[j % 3]},${cities[j % 5]}\n`;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  fs.renameSync(`${file}.part`, file);
  return file;
}

function upload(port: number, secret: string, file: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/bulk/contacts/import', headers: { 'content-type': 'text/csv', authorization: `Bearer ${secret}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    fs.createReadStream(file).pipe(req);
  });
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function download(port: number, secret: string): Promise<{ status: number; bytes: number; lines: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/v1/bulk/contacts?format=csv', headers: { authorization: `Bearer ${secret}` } }, (res) => {
        let bytes = 0;
        let lines = 0;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines++;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, lines }));
      })
      .on('error', reject);
  });
}

async function measureExport(child: ChildProcess, port: number, secret: string) {
  const baseline = rssMb(child.pid!);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 50);
  const started = performance.now();
  const result = await download(port, secret);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  return { seconds, baseline, peak, result };
}

async function measure(child: ChildProcess, port: number, secret: string, file: string) {
  const baseline = rssMb(child.pid!);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 50);
  const started = performance.now();
  const result = await upload(port, secret, file);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  return { seconds, rowsPerSecond: ROWS / seconds, baseline, peak, result };
}

async function serve(engine: 'postgres' | 'pglite'): Promise<void> {
  const { createContext, createLogger } = await import('../src/composition.ts');
  const { loadConfig } = await import('../src/config.ts');
  const { openDatabase } = await import('../src/db/database.ts');
  const { migrateToLatest } = await import('../src/db/migrate.ts');
  const { buildApi } = await import('../src/http/app.ts');
  const url = process.env.BENCH_CHILD_DB_URL || null;
  const database = await openDatabase({ databaseUrl: engine === 'postgres' ? url : null, dataDir: null });
  await migrateToLatest(database.db);
  const config = loadConfig({ MAILERDASH_ADMIN_KEY: 'md_bench_admin_secret_0123456789abcdef', MAILERDASH_HOSTNAME: 'bench.test' });
  const logger = createLogger('warn');
  const context = createContext(config, database, logger);
  const { key, secret } = await context.services.keys.createKey({ name: 'bench' });
  const app = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  process.send!({ port: typeof address === 'object' && address ? address.port : 0, secret, keyId: key.id });
}

async function main(): Promise<void> {
  const file = await csvFile(ROWS);
  console.log(`file: ${file} (${(fs.statSync(file).size / 1e6).toFixed(1)} MB, ${ROWS} rows); ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  for (const engine of ENGINES) {
    const scratch = engine === 'postgres' ? await createScratchDatabase(PG_URL, 'md_bench') : null;
    const childUrl = scratch?.url ?? '';
    const child = fork(fileURLToPath(import.meta.url), ['--serve', engine], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_CHILD_DB_URL: childUrl },
    });
    try {
      const [ready] = (await once(child, 'message')) as [{ port: number; secret: string }];
      for (const round of ['first import (all new)', 'second import (all updates)']) {
        const m = await measure(child, ready.port, ready.secret, file);
        const { created, updated, failed } = m.result.body;
        console.log(
          `${engine.padEnd(8)} ${round.padEnd(28)} status ${m.result.status}  ${m.seconds.toFixed(1)} s  ${Math.round(m.rowsPerSecond).toLocaleString('en')} rows/s  ` +
            `created ${created} updated ${updated} failed ${failed}  RSS ${m.baseline.toFixed(0)} -> peak ${m.peak.toFixed(0)} MB  load ${os.loadavg()[0]!.toFixed(1)}`,
        );
      }
      const e = await measureExport(child, ready.port, ready.secret);
      console.log(
        `${engine.padEnd(8)} ${'CSV export (format=csv)'.padEnd(28)} status ${e.result.status}  ${e.seconds.toFixed(1)} s  ${Math.round((e.result.lines - 1) / e.seconds).toLocaleString('en')} rows/s  ` +
          `${e.result.lines - 1} rows, ${(e.result.bytes / 1e6).toFixed(0)} MB  RSS ${e.baseline.toFixed(0)} -> peak ${e.peak.toFixed(0)} MB  load ${os.loadavg()[0]!.toFixed(1)}`,
      );
    } finally {
      child.kill();
      await once(child, 'exit');
      if (scratch) {
        await scratch.drop();
      }
    }
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3] as 'postgres' | 'pglite');
else await main();
