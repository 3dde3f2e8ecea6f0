// Benchmark (not a test): accepted POST /v1/mail/send per second and latency, beside the HTTP ceiling
// (the same Fastify process answering the same schema and auth with no database work), on PGlite and PostgreSQL.
// npm run bench:send:api    (BENCH_DATABASE_URL=postgres://... chooses the server; BENCH_ENGINES=pglite,postgres; BENCH_SECONDS; BENCH_ROUNDS)
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { createScratchDatabase } from '../test/support/scratch-postgres.ts';
import { startDnsServer } from '../test/support/dns-server.ts';
import { createContext, createLogger } from '../src/composition.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { buildApi } from '../src/http/app.ts';
import { requireApiKey } from '../src/http/auth.ts';
import { Accepted, SendBody, SendHeaders } from '../src/modules/send/schemas.ts';
import { PAYLOAD } from './support/send-payload.ts';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
// The machine is shared: ceiling and send alternate in short rounds and the median round of each is reported.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 50;
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';


interface Figures {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  errors: number;
  /** CPU time per accepted request: this process, and the PostgreSQL backends serving it (load-independent). */
  nodeCpuUs?: number;
  pgCpuUs?: number;
}

/** CPU time (µs) the given local PostgreSQL backends have used so far, from /proc (0 where unreadable). */
function backendCpuUs(pids: number[]): number {
  const tick = 1_000_000 / 100;
  return pids.reduce((sum, pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return sum + (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      return sum;
    }
  }, 0);
}

async function measured(run: () => Promise<Figures>, backends: number[]): Promise<Figures> {
  const cpu = process.cpuUsage();
  const pg = backendCpuUs(backends);
  const figures = await run();
  const used = process.cpuUsage(cpu);
  return { ...figures, nodeCpuUs: (used.user + used.system) / figures.ok, pgCpuUs: (backendCpuUs(backends) - pg) / figures.ok };
}

async function autocannon(url: string, secret: string, seconds: number): Promise<Figures> {
  const { stdout } = await run(
    process.execPath,
    [
      'node_modules/autocannon/autocannon.js', '-j', '-c', String(CONNECTIONS), '-d', String(seconds), '-m', 'POST',
      '-H', 'content-type=application/json', '-H', `authorization=Bearer ${secret}`, '-H', 'x-md-channel=trans', '-b', PAYLOAD, url,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout);
  const ok = r['2xx'] as number;
  return { rps: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99, ok, errors: r.non2xx + r.errors + r.timeouts };
}

function median(runs: Figures[]): Figures {
  return [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
}

async function openEngine(engine: 'pglite' | 'postgres'): Promise<Database> {
  if (engine === 'pglite') return openDatabase({ databaseUrl: null, dataDir: null });
  const scratch = await createScratchDatabase(PG_URL, 'md_bench');
  const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null });
  return {
    ...database,
    async close() {
      await database.close();
      await scratch.drop();
    },
  };
}

async function bench(engine: 'pglite' | 'postgres') {
  const dns = await startDnsServer({ 'example.com': [{ type: 'MX', exchange: 'mx.example.com', priority: 10 }] });
  const database = await openEngine(engine);
  await migrateToLatest(database.db);
  const config = loadConfig({ MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_HOSTNAME: 'mta.bench', LOG_LEVEL: 'silent' });
  const logger = createLogger('silent');
  const context = createContext(config, database, logger);
  const { secret } = await context.services.keys.createKey({ name: 'bench', domains: ['tu-dominio.com'] });
  const app = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping });
  await app.register(async (scope) => {
    requireApiKey(scope, context.services.keys);
    scope.post('/bench/ceiling', { schema: { headers: SendHeaders, body: SendBody, response: { 202: Accepted } } }, async (request, reply) =>
      reply.code(202).header('x-message-id', 'req_ceiling').send({ message: 'accepted', app: request.principal.keyId }),
    );
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  try {
    await autocannon(`${base}/bench/ceiling`, secret, 2);
    await autocannon(`${base}/v1/mail/send`, secret, 2);
    const ceilings: Figures[] = [];
    const sends: Figures[] = [];
    let queued = 0;
    for (let round = 0; round < ROUNDS; round++) {
      ceilings.push(await measured(() => autocannon(`${base}/bench/ceiling`, secret, SECONDS), []));
      const backends =
        engine === 'postgres' ? (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database()`.execute(database.db)).rows.map((r) => r.pid) : [];
      const before = await sql<{ n: number }>`select count(*)::int as n from messages`.execute(database.db);
      sends.push(await measured(() => autocannon(`${base}/v1/mail/send`, secret, SECONDS), backends));
      await context.services.send.flushed();
      const after = await sql<{ n: number }>`select count(*)::int as n from messages`.execute(database.db);
      queued += after.rows[0]!.n - before.rows[0]!.n;
    }
    const accepted = sends.reduce((n, f) => n + f.ok, 0);
    return { engine, ceiling: median(ceilings), send: median(sends), queued, accepted };
  } finally {
    await app.close();
    await database.close();
    await dns.close();
  }
}

const fmt = (f: Figures) =>
  `${Math.round(f.rps).toLocaleString('en')} req/s, p50 ${f.p50} ms, p99 ${f.p99} ms` +
  (f.errors ? `, ${f.errors} errors` : '') +
  `; CPU per request: node ${Math.round(f.nodeCpuUs ?? 0)} µs` +
  (f.pgCpuUs !== undefined && f.pgCpuUs > 0 ? `, PostgreSQL ${Math.round(f.pgCpuUs)} µs` : '');

const engines = (process.env.BENCH_ENGINES ?? 'pglite,postgres').split(',') as Array<'pglite' | 'postgres'>;
console.log(`POST /v1/mail/send, 1 recipient, ${CONNECTIONS} connections, median of ${ROUNDS} alternating ${SECONDS} s rounds; ${os.cpus().length} cores, Node ${process.version}; load average ${os.loadavg()[0]!.toFixed(1)}`);
for (const engine of engines) {
  const r = await bench(engine);
  console.log(`${engine.padEnd(8)} ceiling (schema + auth, no database): ${fmt(r.ceiling)}`);
  console.log(`${engine.padEnd(8)} accepted (committed):               ${fmt(r.send)}  = ${Math.round((100 * r.send.rps) / r.ceiling.rps)}% of ceiling; ${r.queued} messages queued for ${r.accepted} 202s (the rest were in flight when the load stopped)`);
}
console.log(`load average at the end: ${os.loadavg()[0]!.toFixed(1)} (other processes on the machine skew both columns)`);
