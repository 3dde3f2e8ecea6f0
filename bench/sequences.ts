// Benchmark (not a test): BENCH_CONTACTS (100,000) sequence subscribers whose first step falls due at
// once, made by the real scheduler and sent by the real send job into Postfix's smtp-sink on loopback,
// beside the same number as one campaign (bench:campaign's) and smtp-source into the same sink, in the
// same run. Unsigned, as bench:campaign. Then the cost of one scheduler round with BENCH_WAITING
// (1,000,000) subscribers waiting on later steps. Each engine runs in a child process of its own.
//   npm run bench:sequences   (BENCH_CONTACTS, BENCH_WAITING, BENCH_ENGINES=postgres,pglite, BENCH_DATABASE_URL,
//   BENCH_SEQUENCE_CONCURRENCY: chunk loops of the scheduler, default chunkConcurrencyFor the engine)
import { ceilingLine, n, ofCeiling, runPerEngine } from './support/report.ts';
import os from 'node:os';
import { sql } from 'kysely';
import { CONNECTIONS, seedCampaign, campaignBenchConfig, openBenchEngine } from './support/campaign-seed.ts';
import { backendCpuSeconds } from './support/pg-cpu.ts';
import { cpuSecondsOf, smtpSourceRate, startSmtpSink } from './support/postfix.ts';
import { createContext, createLogger } from '../src/composition.ts';
import type { Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createCampaignDispatcher } from '../src/workers/campaign-dispatcher.ts';
import { createDeliveryJob, handOffFromConfig } from '../src/workers/delivery.ts';
import { createWorkerRunner, type Job } from '../src/workers/runner.ts';
import { chunkConcurrencyFor, createSequenceScheduler } from '../src/workers/sequence-scheduler.ts';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const WAITING = Number(process.env.BENCH_WAITING ?? 1_000_000);

interface Measured {
  seconds: number;
  nodeMs: number;
  dbMs: number;
  peakRss: number;
}

/** Runs `jobs` as `mailerdash worker` does until `done()`; CPU per message and peak RSS over the run. */
async function measure(database: Database, engine: string, jobs: Job[], start: () => Promise<void>, done: () => Promise<boolean>): Promise<Measured> {
  const logger = createLogger('silent');
  const runner = createWorkerRunner({ jobs, pollMs: 20, logger });
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss / 1048576)), 250);
  const cpu = process.cpuUsage();
  const dbCpu = engine === 'postgres' ? await backendCpuSeconds(database.db) : 0;
  const began = process.hrtime.bigint();
  await start();
  runner.start();
  while (!(await done())) await new Promise((r) => setTimeout(r, 100));
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  const used = process.cpuUsage(cpu);
  const dbUsed = engine === 'postgres' ? (await backendCpuSeconds(database.db)) - dbCpu : 0;
  clearInterval(sampler);
  await runner.stop();
  for (const job of jobs) await job.close?.();
  return { seconds, nodeMs: (used.user + used.system) / 1000 / CONTACTS, dbMs: (dbUsed * 1000) / CONTACTS, peakRss };
}

async function child(engine: string): Promise<void> {
  const database = await openBenchEngine(engine);
  const sink = await startSmtpSink();
  try {
    await migrateToLatest(database.db);
    const config = campaignBenchConfig(sink.port);
    const logger = createLogger('silent');
    const context = createContext(config, database, logger);
    const { db } = database;
    const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
    const principal = { keyId: key.id, name: 'bench', admin: false };
    const { listId, templateId } = await seedCampaign(database, key.id, CONTACTS);
    const ceiling = smtpSourceRate(sink.port, CONTACTS, CONNECTIONS);
    const sinkCpu0 = cpuSecondsOf(sink.child.pid!);

    // The campaign of bench:campaign, to the same contacts, as the reference.
    const handOff = handOffFromConfig(config);
    const campaignSender = createDeliveryJob({ config, db, logger, signingKeyFor: async () => null, links: context.services.links, handOff });
    const campaign = await context.services.campaigns.create(principal, { name: 'Bench', list_id: listId, template_id: templateId, from_email: 'news@bench.example', tracking: false });
    const campaignRun = await measure(
      database,
      engine,
      [createCampaignDispatcher({ db, logger, handOff }), campaignSender],
      async () => void (await context.services.campaigns.act(principal, campaign.id, 'send')),
      async () => (await context.services.campaigns.get(principal, campaign.id)).status === 'sent',
    );

    // One sequence whose first step is due for every contact at once.
    const sequence = await context.services.sequences.create(principal, { name: 'Bench drip' });
    await context.services.sequences.addStep(principal, sequence.id, { position: 1, offset_seconds: 0, template_id: templateId, from_email: 'news@bench.example', tracking: false });
    await context.services.sequences.addStep(principal, sequence.id, { position: 2, offset_seconds: 86_400, template_id: templateId, from_email: 'news@bench.example', tracking: false });
    await context.services.sequences.update(principal, sequence.id, { status: 'active' });
    await sql`
      insert into sequence_subscribers (id, key_id, sequence_id, contact_id, email, status, started_at, next_due_at)
      select 'sub_bench_' || c.id, c.key_id, ${sequence.id}, c.id, c.email, 'active', now(), now()
      from contacts c where c.key_id = ${key.id}`.execute(db);
    await sql`insert into sequence_due (subscriber_id, sequence_id, due_at) select id, sequence_id, next_due_at from sequence_subscribers where sequence_id = ${sequence.id}`.execute(db);
    // Done once no subscriber is due and no bulk message is unfinished: two index probes, so the
    // check costs the run nothing (a count of the step messages cost as much as the scheduler).
    const stepSent = async () => {
      const { rows } = await sql<{ done: boolean }>`
        select not exists (select 1 from sequence_due where sequence_id = ${sequence.id} and due_at <= now())
           and not exists (select 1 from messages where lane = 1 and status in ('queued', 'deferred'))
           and not exists (select 1 from messages where lane = 1 and status = 'sending') as done`.execute(db);
      return rows[0]!.done;
    };
    const sequenceHandOff = handOffFromConfig(config);
    const sequenceSender = createDeliveryJob({ config, db, logger, signingKeyFor: async () => null, links: context.services.links, handOff: sequenceHandOff });
    const sequenceRun = await measure(database, engine, [createSequenceScheduler({ db, logger, handOff: sequenceHandOff, concurrency: Number(process.env.BENCH_SEQUENCE_CONCURRENCY ?? chunkConcurrencyFor(database.engine)) }), sequenceSender], async () => {}, stepSent);
    const sinkUsed = cpuSecondsOf(sink.child.pid!) - sinkCpu0;

    const { rows: counts } = await sql<{ status: string; n: number }>`
      select status, count(*)::int as n from messages where sequence_subscriber_id is not null group by status order by status`.execute(db);
    const { rows: waitingOnStep2 } = await sql<{ n: number }>`
      select count(*)::int as n from sequence_subscribers where sequence_id = ${sequence.id} and status = 'active' and current_position = 1 and next_due_at > now()`.execute(db);

    // One scheduler round with WAITING subscribers of another active sequence due only tomorrow.
    const later = await context.services.sequences.create(principal, { name: 'Bench later' });
    await context.services.sequences.addStep(principal, later.id, { position: 1, offset_seconds: 86_400, template_id: templateId, from_email: 'news@bench.example', tracking: false });
    await context.services.sequences.update(principal, later.id, { status: 'active' });
    await sql`
      insert into sequence_subscribers (id, key_id, sequence_id, contact_id, email, status, started_at, next_due_at)
      select 'sub_wait_' || g, ${key.id}, ${later.id}, 10000000 + g, 'waiting' || g || '@example.org', 'active', now(), now() + interval '1 day' + g * interval '1 millisecond'
      from generate_series(1, ${WAITING}::int) g`.execute(db);
    await sql`insert into sequence_due (subscriber_id, sequence_id, due_at) select id, sequence_id, next_due_at from sequence_subscribers where sequence_id = ${later.id}`.execute(db);
    await sql`analyze sequence_subscribers`.execute(db);
    await sql`analyze sequence_due`.execute(db);
    const scheduler = createSequenceScheduler({ db, logger });
    const rounds: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = process.hrtime.bigint();
      const handled = await scheduler.runOnce();
      rounds.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (handled !== 0) throw new Error(`a round handled ${handled} with nothing due`);
    }
    rounds.sort((a, b) => a - b);

    const campaignRate = CONTACTS / campaignRun.seconds;
    const sequenceRate = CONTACTS / sequenceRun.seconds;
    console.log(`\n[${engine}] ${n(CONTACTS)} subscribers due at once, unsigned, ${os.availableParallelism()} cores`);
    console.log(ceilingLine(ceiling));
    console.log(`  campaign (bench:campaign's):        ${ofCeiling(campaignRate, ceiling)}, ${campaignRun.seconds.toFixed(1)} s; node ${campaignRun.nodeMs.toFixed(3)}, PostgreSQL ${campaignRun.dbMs.toFixed(3)} ms/msg; peak RSS ${Math.round(campaignRun.peakRss)} MB`);
    console.log(`  sequence step 1 (scheduler + send): ${ofCeiling(sequenceRate, ceiling)} = ${Math.round((100 * sequenceRate) / campaignRate)}% of the campaign, ${sequenceRun.seconds.toFixed(1)} s; node ${sequenceRun.nodeMs.toFixed(3)}, PostgreSQL ${sequenceRun.dbMs.toFixed(3)} ms/msg; peak RSS ${Math.round(sequenceRun.peakRss)} MB`);
    console.log(`  step messages by status: ${counts.map((c) => `${c.status} ${n(c.n)}`).join(', ')}; waiting on step 2: ${n(waitingOnStep2[0]!.n)}; sink CPU ${((sinkUsed * 1000) / (2 * CONTACTS)).toFixed(3)} ms/msg`);
    console.log(`  one scheduler round with nothing due and ${n(WAITING)} subscribers waiting on later steps: median ${rounds[10]!.toFixed(2)} ms, max ${rounds[19]!.toFixed(2)} ms (20 rounds)`);
    console.log(`  goal: at least 80 % of the campaign's throughput (${Math.round((100 * sequenceRate) / campaignRate)} %: ${sequenceRate >= 0.8 * campaignRate ? 'met' : 'NOT met'})`);
  } finally {
    sink.child.kill();
    await database.close();
    await database.drop();
  }
}

await runPerEngine(import.meta.url, child);
