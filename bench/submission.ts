// Benchmark (not a test): messages accepted (committed) per second over SMTP submission with 16
// connections, against POST /v1/mail/send accepted with 16 connections in the same run (the HTTP accept
// path is the ceiling: the same validation and commit, without SMTP's round trips). Both are plain text
// on loopback; each load generator is a child process. PGlite and PostgreSQL.
// npm run bench:submission   (BENCH_ENGINES=pglite,postgres; BENCH_SECONDS; BENCH_ROUNDS; BENCH_DATABASE_URL)
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { startDnsServer } from '../test/support/dns-server.ts';
import { createContext, createLogger } from '../src/composition.ts';
import { loadConfig } from '../src/config.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { buildApi } from '../src/http/app.ts';
import { startSubmissionListener } from '../src/modules/submission/listener.ts';
import { openBenchEngine } from './support/campaign-seed.ts';
import { PAYLOAD } from './support/send-payload.ts';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 16;


interface Figures {
  rate: number;
  ok: number;
  errors: number;
  p50: number;
  p99: number;
}

async function http(url: string, secret: string, seconds: number): Promise<Figures> {
  const { stdout } = await run(
    process.execPath,
    ['node_modules/autocannon/autocannon.js', '-j', '-c', String(CONNECTIONS), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-H', `authorization=Bearer ${secret}`, '-b', PAYLOAD, url],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout);
  return { rate: r['2xx'] / r.duration, ok: r['2xx'], errors: r.non2xx + r.errors + r.timeouts, p50: r.latency.p50, p99: r.latency.p99 };
}

async function smtp(port: number, secret: string, seconds: number): Promise<Figures> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/support/smtp-load.ts', String(port), secret, String(CONNECTIONS), String(seconds)]);
  const r = JSON.parse(stdout);
  return { rate: r.ok / r.seconds, ok: r.ok, errors: r.refused, p50: r.p50, p99: r.p99 };
}

const median = (runs: Figures[]) => [...runs].sort((a, b) => a.rate - b.rate)[Math.floor(runs.length / 2)]!;

async function bench(engine: string) {
  const dns = await startDnsServer({ 'example.com': [{ type: 'MX', exchange: 'mx.example.com', priority: 10 }] });
  const database = await openBenchEngine(engine);
  await migrateToLatest(database.db);
  const config = loadConfig({ MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_HOSTNAME: 'mta.bench', LOG_LEVEL: 'silent' });
  const logger = createLogger('silent');
  const context = createContext(config, database, logger);
  const { secret } = await context.services.keys.createKey({ name: 'bench', domains: ['tu-dominio.com'] });
  const app = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/mail/send`;
  const listener = await startSubmissionListener({
    service: context.services.submission,
    logger,
    hostname: 'mta.bench',
    port: 0,
    host: '127.0.0.1',
    sizeLimit: config.bodyLimitBytes,
    tls: null,
    plaintextLoopback: true,
  });
  const count = async () => (await sql<{ n: number }>`select count(*)::int as n from messages`.execute(database.db)).rows[0]!.n;
  try {
    await http(url, secret, 2);
    await smtp(listener.port, secret, 2);
    const https: Figures[] = [];
    const smtps: Figures[] = [];
    let stored = 0;
    let answered = 0;
    for (let round = 0; round < ROUNDS; round++) {
      https.push(await http(url, secret, SECONDS));
      const before = await count();
      const figures = await smtp(listener.port, secret, SECONDS);
      await context.services.submission.flushed();
      stored += (await count()) - before;
      answered += figures.ok;
      smtps.push(figures);
    }
    return { http: median(https), smtp: median(smtps), stored, answered };
  } finally {
    await listener.close();
    await app.close();
    await database.close();
    await database.drop();
    await dns.close();
  }
}

const fmt = (f: Figures, unit: string) => `${Math.round(f.rate).toLocaleString('en')} ${unit}, p50 ${f.p50} ms, p99 ${f.p99} ms${f.errors ? `, ${f.errors} refused` : ''}`;
const engines = (process.env.BENCH_ENGINES ?? 'pglite,postgres').split(',');
console.log(`1 recipient a message, ${CONNECTIONS} connections each, median of ${ROUNDS} alternating ${SECONDS} s rounds; ${os.cpus().length} cores, Node ${process.version}; load average ${os.loadavg()[0]!.toFixed(1)}`);
for (const engine of engines) {
  const r = await bench(engine);
  console.log(`${engine.padEnd(8)} HTTP accept (POST /v1/mail/send): ${fmt(r.http, 'req/s')}`);
  console.log(`${engine.padEnd(8)} SMTP submission accepted:         ${fmt(r.smtp, 'msg/s')}  = ${Math.round((100 * r.smtp.rate) / r.http.rate)}% of HTTP accept; ${r.stored} messages stored for ${r.answered} 250s`);
}
console.log(`load average at the end: ${os.loadavg()[0]!.toFixed(1)} (other processes on the machine skew both columns)`);
