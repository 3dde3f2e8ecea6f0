// Benchmark (not a test): the cost of retention beside sending. A table holds BENCH_OLD_MESSAGES
// (the issue: 10,000,000) final messages past retention, spread over two days, 10 % with a timeline
// event. Then campaigns to BENCH_CONTACTS members alternating without and with the retention job
// running (real workers, sink on loopback, as bench/campaign.ts): without, then BENCH_PAIRS times
// (with, without). Then the time the job takes at full pace to retire the rest of the first day (its
// clock set a day after the oldest, so exactly that day is past retention), and table and index sizes
// before, after and after VACUUM.
//   npm run bench:retention   (BENCH_OLD_MESSAGES, BENCH_CONTACTS, BENCH_PAIRS, BENCH_RETENTION_PAUSE, BENCH_RETENTION_CURSOR=off, BENCH_ENGINES=postgres|pglite, BENCH_DATABASE_URL)
import os from 'node:os';
import { sql, type Kysely } from 'kysely';
import { CONNECTIONS, campaignBenchConfig, openBenchEngine, seedCampaign } from './support/campaign-seed.ts';
import { backendCpuSeconds } from './support/pg-cpu.ts';
import { runPerEngine } from './support/report.ts';
import { startSmtpSink } from './support/postfix.ts';
import { createContext, createLogger } from '../src/composition.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { DB } from '../src/db/schema.ts';
import { createCampaignDispatcher } from '../src/workers/campaign-dispatcher.ts';
import { createDeliveryJob, handOffFromConfig } from '../src/workers/delivery.ts';
import { createRetentionJob } from '../src/workers/retention.ts';
import { createWorkerRunner, type Job } from '../src/workers/runner.ts';

const OLD = Number(process.env.BENCH_OLD_MESSAGES ?? 10_000_000);
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 50_000);
const DAY = 86_400_000;
/** The job's pause after a round, in multiples of the round (the worker's default is 4). */
const PAUSE = Number(process.env.BENCH_RETENTION_PAUSE ?? 4);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 2);
/** off: every full-pace round starts from the oldest again (the walk before the resume point), for comparison. */
const CURSOR = process.env.BENCH_RETENTION_CURSOR !== 'off';
/** A few set-based statements: each chunk is one insert … select generate_series. */
const SEED_CHUNK = 1_000_000;
const n = (x: number) => Math.round(x).toLocaleString('en-US');

const OLDEST = Date.now() - 42 * DAY;

async function seedOld(db: Kysely<DB>, keyId: string): Promise<void> {
  const start = OLDEST;
  await sql`insert into message_contents (id, key_id, from_email, subject, text, created_at) values ('cnt_old', ${keyId}, 'old@bench.example', 'Old', 'Old body', ${new Date(start)})`.execute(db);
  for (let from = 1; from <= OLD; from += SEED_CHUNK) {
    const to = Math.min(OLD, from + SEED_CHUNK - 1);
    // Spread over two days: created at start + g * 2 days / OLD.
    await sql`
      insert into messages (id, key_id, content_id, channel, lane, status, to_email, personalization, due_at, created_at, updated_at, sent_at, last_response)
      select 'msg_old' || g, ${keyId}, 'cnt_old', 'bulk', 1, 'sent', 'old' || g || '@example.org', '{}',
             t, t, t, t, '250 2.0.0 Ok'
      from generate_series(${from}::int, ${to}::int) g, lateral (select ${new Date(start)}::timestamptz + (g * ${(2 * DAY) / OLD}::float8) * interval '1 millisecond' as t) x`.execute(db);
    await sql`
      insert into message_events (message_id, type, at, data)
      select 'msg_old' || g, 'opened', ${new Date(start)}::timestamptz, '{}' from generate_series(${from}::int, ${to}::int) g where g % 10 = 0`.execute(db);
  }
  await sql`analyze`.execute(db);
}

async function sizes(db: Kysely<DB>): Promise<string> {
  const { rows } = await sql<{ name: string; rows: string; heap: string; indexes: string }>`
    select c.relname as name, c.reltuples::bigint::text as rows,
           pg_size_pretty(pg_relation_size(c.oid)) as heap, pg_size_pretty(pg_indexes_size(c.oid)) as indexes
    from pg_class c where c.relname in ('messages', 'message_events', 'message_contents', 'stat_counts') order by c.relname`.execute(db);
  return rows.map((r) => `    ${r.name.padEnd(17)} ~${n(Number(r.rows)).padStart(11)} rows  heap ${r.heap.padStart(8)}  indexes ${r.indexes.padStart(8)}`).join('\n');
}

async function oldLeft(db: Kysely<DB>, before = new Date()): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from messages where content_id = 'cnt_old' and created_at < ${before}`.execute(db);
  return Number(rows[0]!.n);
}

const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

async function child(engine: string): Promise<void> {
  const database = await openBenchEngine(engine);
  const sink = await startSmtpSink();
  const db = database.db;
  try {
    await migrateToLatest(db);
    const config = campaignBenchConfig(sink.port);
    const logger = createLogger('silent');
    const context = createContext(config, database, logger);
    const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
    const principal = { keyId: key.id, name: 'bench', admin: false };
    const { listId, templateId } = await seedCampaign(database, key.id, CONTACTS);
    let t = performance.now();
    await seedOld(db, key.id);
    console.log(`\n[${engine}] ${n(OLD)} final messages past retention (seeded in ${((performance.now() - t) / 1000).toFixed(0)} s), campaigns to ${n(CONTACTS)} contacts, ${os.availableParallelism()} cores, load ${load()}`);
    console.log(`  before:\n${await sizes(db)}`);

    const campaign = async (name: string, extra: Job[]) => {
      const handOff = handOffFromConfig(config);
      const delivery = createDeliveryJob({ config, db, logger, signingKeyFor: async () => null, links: context.services.links, handOff });
      const dispatcher = createCampaignDispatcher({ db, logger, handOff, onQueued: () => runner.wake() });
      const runner = createWorkerRunner({ jobs: [dispatcher, delivery, ...extra], pollMs: config.workerPollMs, logger });
      const made = await context.services.campaigns.create(principal, { name, list_id: listId, template_id: templateId, from_email: 'news@bench.example', tracking: false });
      const cpu = process.cpuUsage();
      const dbCpu = engine === 'postgres' ? await backendCpuSeconds(db) : 0;
      const start = performance.now();
      await context.services.campaigns.act(principal, made.id, 'send');
      runner.start();
      while ((await context.services.campaigns.get(principal, made.id)).status !== 'sent') await new Promise((r) => setTimeout(r, 100));
      const seconds = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      const dbUsed = engine === 'postgres' ? (await backendCpuSeconds(db)) - dbCpu : 0;
      await runner.stop();
      const stats = await context.services.campaigns.stats(principal, made.id);
      // CPU per message (node: this process, all its jobs; PostgreSQL: the database's backends): what load hardly changes.
      return { rate: CONTACTS / seconds, seconds, sent: stats.sent, nodeMs: (used.user + used.system) / 1000 / CONTACTS, pgMs: (dbUsed * 1000) / CONTACTS };
    };
    const retention = (pauseFactor: number, now?: () => Date) =>
      createRetentionJob({ db, logger, retentionDays: config.retentionDays, contentRetentionDays: config.contentRetentionDays, batchSize: config.retentionBatch, pauseFactor, intervalMs: 1000, now });
    const withRetention = async (name: string) => {
      // A stopped runner's job keeps the lease (for up to 5 minutes): handed over to this run's job.
      await sql`delete from job_leases`.execute(db);
      const left = await oldLeft(db);
      const run = await campaign(name, [retention(PAUSE)]);
      return { ...run, removed: left - (await oldLeft(db)) };
    };

    // Without, then pairs of with and without: the first run of a process is slower (cold caches,
    // JIT), and the load of the shared machine drifts, so each run with the job is set against the
    // mean of the runs without beside it.
    const line = (label: string, r: { rate: number; seconds: number; sent: number; nodeMs: number; pgMs: number }) =>
      `  ${label.padEnd(34)} ${n(r.rate).padStart(6)} msg/s (${r.seconds.toFixed(1)} s, sent ${n(r.sent)}), CPU/msg node ${r.nodeMs.toFixed(3)} ms, PG ${r.pgMs.toFixed(3)} ms, load ${load()}`;
    let previous = await campaign('Without retention 0', []);
    console.log(line('campaign without retention 0:', previous));
    for (let pair = 1; pair <= PAIRS; pair++) {
      const withJob = await withRetention(`With retention ${pair}`);
      console.log(`${line(`campaign with retention ${pair}:`, withJob)}; the job (pause ×${PAUSE}) removed ${n(withJob.removed)} old messages meanwhile`);
      const next = await campaign(`Without retention ${pair}`, []);
      console.log(line(`campaign without retention ${pair}:`, next));
      const mean = (previous.rate + next.rate) / 2;
      console.log(`  pair ${pair}: with / without = ${((100 * withJob.rate) / next.rate).toFixed(1)} % of the later run, ${((100 * withJob.rate) / mean).toFixed(1)} % of the mean of both beside it (goal: loses under 5 %)`);
      const cpuMean = (k: 'nodeMs' | 'pgMs') => (previous[k] + next[k]) / 2;
      console.log(`  pair ${pair}: CPU/msg with / without (mean beside it): node ${((100 * withJob.nodeMs) / cpuMean('nodeMs')).toFixed(1)} %, PG ${((100 * withJob.pgMs) / cpuMean('pgMs')).toFixed(1)} %`);
      previous = next;
    }

    // One day: the job's clock is set so that exactly the first seeded day is past retention.
    const dayEnd = new Date(OLDEST + DAY);
    const rest = await oldLeft(db, dayEnd);
    await sql`delete from job_leases`.execute(db);
    const job = retention(0, () => new Date(dayEnd.getTime() + config.retentionDays * DAY));
    t = performance.now();
    let rounds = 0;
    // The pace over the day, per tenth of it: a walk that restarts from the oldest each round slows as
    // dead index entries pile up ahead of it; one that resumes from its cursor keeps its pace.
    const tenth = Math.max(1, Math.ceil(rest / config.retentionBatch / 10));
    let tenthStart = performance.now();
    let tenthRemoved = 0;
    const paces: string[] = [];
    const round = async () => {
      if (!CURSOR) await sql`delete from retention_cursors`.execute(db);
      return job.runOnce();
    };
    for (let removed; (removed = await round()) > 0; ) {
      rounds++;
      tenthRemoved += removed;
      if (rounds % tenth === 0) {
        paces.push(n(tenthRemoved / ((performance.now() - tenthStart) / 1000)));
        tenthStart = performance.now();
        tenthRemoved = 0;
      }
    }
    const seconds = (performance.now() - t) / 1000;
    console.log(`  pace per tenth of the day (rows/s, resume point ${CURSOR ? 'on' : 'off'}): ${paces.join(', ')}`);
    const dayLeft = await oldLeft(db, dayEnd);
    console.log(`  retiring the rest of day one, ${n(rest)} messages, at full pace: ${seconds.toFixed(1)} s (${rounds} rounds of ${config.retentionBatch}) = ${n(rest / seconds)} messages/s; left of that day ${n(dayLeft)}, of day two ${n(await oldLeft(db))}; 5,000,000 at that rate ≈ ${((5_000_000 / (rest / seconds)) / 60).toFixed(1)} min; load ${load()}`);
    await sql`analyze`.execute(db);
    console.log(`  after (load ${load()}):\n${await sizes(db)}`);
    if (engine === 'postgres') {
      t = performance.now();
      await sql`vacuum messages, message_events`.execute(db);
      console.log(`  after VACUUM (plain, ${((performance.now() - t) / 1000).toFixed(0)} s, load ${load()}):\n${await sizes(db)}`);
    }
  } finally {
    sink.child.kill();
    await database.close();
    await database.drop();
  }
}

await runPerEngine(import.meta.url, child, { defaultEngines: 'postgres', header: `; ${CONNECTIONS} SMTP sessions` });
