// Benchmark (not a test): what webhooks cost a campaign. The campaign of bench/campaign.ts (BENCH_CONTACTS,
// 100,000 list members, unsigned, into Postfix's smtp-sink on loopback, smtp-source into the same sink as the
// SMTP ceiling) runs twice, each on a fresh database in a process of its own:
//   1. with no webhook endpoint;
//   2. with one endpoint of the key subscribed to `message.*` (made through the webhooks service), pointing at
//      an HTTP receiver on 127.0.0.1 in another process (bench/support/webhook-receiver.ts), every job of
//      context.jobs run by the worker runner as `mailerdash worker` runs them, so fan-out and delivery run
//      while the campaign sends. After the campaign is sent it waits until the receiver has every event.
// Prints campaign msg/s in both (and with / without), events delivered per second (first event time to last
// receipt) against the HTTP ceiling (the webhook sender alone, as many connections, into the same receiver, same
// run), lag from event time to receipt (p50, p99, by fifth of the run), repeats, and CPU per message.
// Unsigned as bench/campaign.ts is: context.jobs' campaign dispatcher and send job are swapped for the same
// pair with no DKIM key (in both runs). BENCH_DKIM=1 keeps context.jobs as they are (RSA-2048 signed).
//   npm run bench:webhooks   (BENCH_CONTACTS, BENCH_ENGINES=postgres[,pglite], BENCH_DATABASE_URL, BENCH_DKIM=0|1, BENCH_RECEIVER=node for a node:http receiver instead of the lean one)
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { CONNECTIONS, seedCampaign, campaignBenchConfig, openBenchEngine } from './support/campaign-seed.ts';
import { backendCpuSeconds } from './support/pg-cpu.ts';
import { cpuSecondsOf, ensurePostfixTools, smtpSourceRate, startSmtpSink } from './support/postfix.ts';
import { httpCeiling, startWebhookReceiver, type ReceiverStats, type WebhookReceiver } from './support/webhook-receiver.ts';
import { createContext, createLogger, type AppContext } from '../src/composition.ts';
import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createCampaignDispatcher } from '../src/workers/campaign-dispatcher.ts';
import { createDeliveryJob, handOffFromConfig } from '../src/workers/delivery.ts';
import { createWorkerRunner, type Job, type WorkerRunner } from '../src/workers/runner.ts';
import type { Logger } from 'pino';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const DKIM = process.env.BENCH_DKIM === '1';
/** Give up waiting for events when none arrived for this long. */
const STALL_MS = 60_000;
const GOAL_COST = 0.15;
const GOAL_P99_MS = 2000;

type Phase = 'plain' | 'webhooks';

interface PhaseResult {
  engine: string;
  phase: Phase;
  smtpCeiling: number;
  httpCeiling: number | null;
  /** Connections (and requests in flight) of the HTTP ceiling: the sender's MAILERDASH_WEBHOOK_CONCURRENCY. */
  httpConnections: number;
  /** CPU seconds per request of the HTTP ceiling: the sender (undici) in this process, and the receiver. */
  httpCpu: { client: number; receiver: number } | null;
  campaignSeconds: number;
  campaignRate: number;
  sent: number;
  failed: number;
  /** CPU seconds until the campaign was sent, and until every event was received. */
  nodeCpu: number;
  pgCpu: number;
  sinkCpu: number;
  nodeCpuTotal: number;
  pgCpuTotal: number;
  receiverCpu: number;
  /** From the send to the last event received (webhooks run). */
  totalSeconds: number;
  receivedAtCampaignEnd: number;
  timeline: { t: number; received: number }[];
  receiver: ReceiverStats | null;
  deliveries: { status: string; count: number; attempts: number }[];
  events: { type: string; count: number }[];
  peakRss: number;
}

/**
 * context.jobs for the runner. Unsigned (the default): its campaign dispatcher and send job are replaced by
 * the pair bench/campaign.ts builds (one hand-off, no DKIM key); every other job is context.jobs' own.
 */
function workerJobs(context: AppContext, config: Config, database: Database, logger: Logger, wake: () => void): { jobs: Job[]; replaced: Job[] } {
  if (DKIM) return { jobs: context.jobs, replaced: [] };
  const handOff = handOffFromConfig(config);
  const send = createDeliveryJob({ config, db: database.db, logger, signingKeyFor: async () => null, links: context.services.links, handOff });
  const dispatcher = createCampaignDispatcher({ db: database.db, logger, handOff, onQueued: wake });
  const swap: Record<string, Job> = { 'campaign-dispatcher': dispatcher, send };
  const missing = Object.keys(swap).filter((name) => !context.jobs.some((j) => j.name === name));
  if (missing.length) throw new Error(`context.jobs has no ${missing.join(', ')} job to swap`);
  return { jobs: context.jobs.map((j) => swap[j.name] ?? j), replaced: context.jobs.filter((j) => swap[j.name]) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function child(engine: string, phase: Phase): Promise<PhaseResult> {
  const database = await openBenchEngine(engine);
  const sink = await startSmtpSink();
  let receiver: WebhookReceiver | null = null;
  try {
    await migrateToLatest(database.db);
    const config = campaignBenchConfig(sink.port, { MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
    const logger = createLogger('warn');
    const context = createContext(config, database, logger);
    const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
    const { listId, templateId } = await seedCampaign(database, key.id, CONTACTS);
    const principal = { keyId: key.id, name: 'bench', admin: false };

    let http: number | null = null;
    let httpCpu: { client: number; receiver: number } | null = null;
    if (phase === 'webhooks') {
      receiver = await startWebhookReceiver();
      await context.services.webhooks.create(principal, { url: `http://127.0.0.1:${receiver.port}/hook`, events: ['message.*'] });
      const requests = Math.min(CONTACTS, 50_000);
      const [c0, r0] = [process.cpuUsage(), receiver.cpuSeconds()];
      http = await httpCeiling(receiver.port, requests, config.webhookConcurrency);
      const c1 = process.cpuUsage(c0);
      httpCpu = { client: (c1.user + c1.system) / 1e6 / requests, receiver: (receiver.cpuSeconds() - r0) / requests };
    }
    const smtp = smtpSourceRate(sink.port, CONTACTS, CONNECTIONS);

    let runner: WorkerRunner;
    const { jobs, replaced } = workerJobs(context, config, database, logger, () => runner.wake());
    runner = createWorkerRunner({ jobs, pollMs: config.workerPollMs, logger });
    context.onQueued(() => runner.wake());

    const campaign = await context.services.campaigns.create(principal, { name: 'Bench', list_id: listId, template_id: templateId, from_email: 'news@bench.example', tracking: false });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss / 1048576)), 250);
    const timeline: { t: number; received: number }[] = [];
    const cpu0 = process.cpuUsage();
    const sink0 = cpuSecondsOf(sink.child.pid!);
    const pgCpu = () => (engine === 'postgres' ? backendCpuSeconds(database.db) : Promise.resolve(0));
    const pg0 = await pgCpu();
    const rx0 = receiver?.cpuSeconds() ?? 0;
    const start = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
    let ticker: NodeJS.Timeout | null = null;
    if (receiver) {
      const r = receiver;
      ticker = setInterval(() => void r.count().then((received) => timeline.push({ t: elapsed(), received }), () => {}), 1000);
    }
    await context.services.campaigns.act(principal, campaign.id, 'send');
    runner.start();
    while ((await context.services.campaigns.get(principal, campaign.id)).status !== 'sent') await sleep(100);
    const campaignSeconds = elapsed();
    const cpu1 = process.cpuUsage(cpu0);
    const pg1 = (await pgCpu()) - pg0;
    const sinkUsed = cpuSecondsOf(sink.child.pid!) - sink0;
    const stats = await context.services.campaigns.stats(principal, campaign.id);

    let receivedAtCampaignEnd = 0;
    let totalSeconds = campaignSeconds;
    if (receiver) {
      receivedAtCampaignEnd = await receiver.count();
      let last = receivedAtCampaignEnd;
      let lastChange = Date.now();
      for (;;) {
        const received = await receiver.count();
        if (received >= stats.sent) break;
        if (received !== last) (last = received), (lastChange = Date.now());
        if (Date.now() - lastChange > STALL_MS) {
          console.log(`  [${engine}] no event received for ${STALL_MS / 1000} s; ${received} of ${stats.sent} arrived`);
          break;
        }
        await sleep(50);
      }
      totalSeconds = elapsed();
    }
    const cpu2 = process.cpuUsage(cpu0);
    const pg2 = (await pgCpu()) - pg0;
    const rxUsed = (receiver?.cpuSeconds() ?? 0) - rx0;
    clearInterval(sampler);
    if (ticker) clearInterval(ticker);
    await runner.stop();
    await Promise.all(replaced.map((j) => j.close?.()));

    const received = receiver ? await receiver.stats() : null;
    const deliveries = (
      await sql<{ status: string; count: number; attempts: number }>`
        select status, count(*)::int as count, sum(attempts)::int as attempts from webhook_deliveries group by status order by status`.execute(database.db)
    ).rows;
    const events = (await sql<{ type: string; count: number }>`select type, count(*)::int as count from events group by type order by type`.execute(database.db)).rows;
    return {
      engine,
      phase,
      smtpCeiling: smtp,
      httpCeiling: http,
      httpConnections: config.webhookConcurrency,
      httpCpu,
      campaignSeconds,
      campaignRate: CONTACTS / campaignSeconds,
      sent: stats.sent,
      failed: stats.failed,
      nodeCpu: (cpu1.user + cpu1.system) / 1e6,
      pgCpu: pg1,
      sinkCpu: sinkUsed,
      nodeCpuTotal: (cpu2.user + cpu2.system) / 1e6,
      pgCpuTotal: pg2,
      receiverCpu: rxUsed,
      totalSeconds,
      receivedAtCampaignEnd,
      timeline,
      receiver: received,
      deliveries,
      events,
      peakRss: peak,
    };
  } finally {
    receiver?.stop();
    sink.child.kill();
    await database.close();
    await database.drop();
  }
}

function runPhase(engine: string, phase: Phase): Promise<PhaseResult | null> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--engine', engine, '--phase', phase], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: PhaseResult | null = null;
    proc.on('message', (m: PhaseResult) => (result = m));
    proc.on('exit', (code) => {
      if (code !== 0) process.exitCode = 1;
      resolve(result);
    });
  });
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const pc = (x: number) => `${Math.round(100 * x)} %`;
const ms = (cpuSeconds: number, per: number) => ((cpuSeconds * 1000) / per).toFixed(3);

function report(engine: string, plain: PhaseResult, hooks: PhaseResult): void {
  const rx = hooks.receiver!;
  const sentEvents = rx.byType['message.sent'] ?? 0;
  const ratio = hooks.campaignRate / plain.campaignRate;
  // Against each run's own smtp-source: corrects for the machine being busier in one run than the other.
  const ratioOfShares = hooks.campaignRate / hooks.smtpCeiling / (plain.campaignRate / plain.smtpCeiling);
  const span = (rx.lastReceivedAt - rx.firstEventAt) / 1000;
  const eventsRate = rx.count / span;
  const backlog = hooks.sent - hooks.receivedAtCampaignEnd;
  console.log(`\n[${engine}] campaign to ${n(CONTACTS)} contacts, ${DKIM ? 'DKIM-signed (context.jobs as they are)' : 'unsigned'}, ${os.availableParallelism()} cores`);
  for (const r of [plain, hooks]) {
    const label = r.phase === 'plain' ? 'without webhooks' : 'with webhooks   ';
    console.log(
      `  ${label}: ${n(r.campaignRate)} msg/s = ${Math.round((100 * r.campaignRate) / r.smtpCeiling)}% of smtp-source (${n(r.smtpCeiling)} msg/s), ${r.campaignSeconds.toFixed(1)} s; ` +
        `sent ${n(r.sent)}, failed ${r.failed}; CPU per message until sent: node ${ms(r.nodeCpu, CONTACTS)}, PostgreSQL ${ms(r.pgCpu, CONTACTS)}, sink ${ms(r.sinkCpu, CONTACTS)} ms; peak RSS ${Math.round(r.peakRss)} MB`,
    );
  }
  console.log(`  with / without webhooks: ${pc(ratio)} of the campaign's msg/s (cost ${pc(1 - ratio)}); as shares of each run's smtp-source: ${pc(ratioOfShares)} (cost ${pc(1 - ratioOfShares)})`);
  console.log(
    `  events: ${n(rx.count)} received (${Object.entries(rx.byType).map(([t, c]) => `${t} ${n(c)}`).join(', ')}) for ${n(hooks.sent)} messages sent: ${sentEvents === hooks.sent ? 'equal' : 'NOT EQUAL'}; ` +
      `${n(rx.unique)} distinct webhook-ids, ${rx.repeats} arrived twice`,
  );
  console.log(`    outbox: ${hooks.events.map((e) => `${e.type} ${n(e.count)}`).join(', ')}; deliveries: ${hooks.deliveries.map((d) => `${d.status} ${n(d.count)} (${n(d.attempts)} attempts)`).join(', ')}`);
  console.log(
    `  events delivered: ${n(eventsRate)} events/s (first event time to last receipt, ${span.toFixed(1)} s) = ${pc(eventsRate / hooks.httpCeiling!)} of the HTTP ceiling ` +
      `(sender alone → receiver, ${hooks.httpConnections} connections: ${n(hooks.httpCeiling!)} req/s) = ${pc(eventsRate / hooks.campaignRate)} of the campaign's msg/s`,
  );
  console.log(`    the HTTP ceiling's own CPU per request: sender ${ms(hooks.httpCpu!.client, 1)} ms, receiver ${ms(hooks.httpCpu!.receiver, 1)} ms`);
  console.log(
    `    at the campaign's end ${n(hooks.receivedAtCampaignEnd)} had arrived (${n(backlog)} behind); the last arrived ${(hooks.totalSeconds - hooks.campaignSeconds).toFixed(1)} s later (${hooks.totalSeconds.toFixed(1)} s after the send)`,
  );
  const tl = hooks.timeline.filter((_, i, all) => i % Math.max(1, Math.ceil(all.length / 12)) === 0 || i === all.length - 1);
  console.log(`    received by second: ${tl.map((p) => `${Math.round(p.t)}s ${n(p.received)}`).join(', ')}`);
  console.log(`  lag event → receipt: p50 ${n(rx.lag.p50)} ms, p90 ${n(rx.lag.p90)} ms, p99 ${n(rx.lag.p99)} ms, max ${n(rx.lag.max)} ms, mean ${n(rx.lag.mean)} ms`);
  console.log(`    by fifth of the events (p50 / p99 ms): ${rx.lagByFifth.map((f) => `${n(f.p50)} / ${n(f.p99)}`).join(', ')}`);
  const plainCpu = plain.nodeCpu + plain.pgCpu;
  const hooksCpu = hooks.nodeCpuTotal + hooks.pgCpuTotal;
  console.log(
    `  CPU per message (node + PostgreSQL): without webhooks ${ms(plainCpu, CONTACTS)} ms; with webhooks ${ms(hooks.nodeCpu + hooks.pgCpu, CONTACTS)} ms until the campaign was sent, ` +
      `${ms(hooksCpu, CONTACTS)} ms until every event arrived (node ${ms(hooks.nodeCpuTotal, CONTACTS)}, PostgreSQL ${ms(hooks.pgCpuTotal, CONTACTS)}) → webhooks' share ${pc((hooksCpu - plainCpu) / hooksCpu)}; receiver ${ms(hooks.receiverCpu, rx.count)} ms per event`,
  );
  // What each event costs: the webhooks run's CPU to its last event less the plain run's to its campaign's end.
  console.log(
    `  CPU per event (with webhooks, to the last event, less without): node ${ms(hooks.nodeCpuTotal - plain.nodeCpu, rx.count)}, PostgreSQL ${ms(hooks.pgCpuTotal - plain.pgCpu, rx.count)}, ` +
      `receiver ${ms(hooks.receiverCpu, rx.count)} ms = ${ms(hooks.nodeCpuTotal - plain.nodeCpu + hooks.pgCpuTotal - plain.pgCpu + hooks.receiverCpu, rx.count)} ms; ` +
      `against the bare request (ceiling) ${ms(hooks.httpCpu!.client + hooks.httpCpu!.receiver, 1)} ms and the campaign's message without webhooks ${ms(plain.nodeCpu + plain.pgCpu + plain.sinkCpu, CONTACTS)} ms (node + PostgreSQL + sink)`,
  );
  const costOk = 1 - ratio < GOAL_COST;
  const lagOk = rx.lag.p99 < GOAL_P99_MS;
  console.log(
    `  goal: webhooks cost the campaign under ${pc(GOAL_COST)} of its throughput (${pc(1 - ratio)}: ${costOk ? 'met' : 'NOT met'}), at p99 lag under ${GOAL_P99_MS / 1000} s (${n(rx.lag.p99)} ms: ${lagOk ? 'met' : 'NOT met'})` +
      (sentEvents === hooks.sent && rx.repeats === 0 ? '' : '; events missing or repeated'),
  );
}

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

const engineArg = arg('--engine');
if (engineArg) {
  const result = await child(engineArg, arg('--phase') as Phase);
  process.send!(result);
  process.disconnect();
} else {
  ensurePostfixTools();
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  for (const engine of (process.env.BENCH_ENGINES ?? 'postgres').split(',')) {
    const plain = await runPhase(engine, 'plain');
    const hooks = await runPhase(engine, 'webhooks');
    if (plain && hooks) report(engine, plain, hooks);
    else console.log(`[${engine}] a run failed`);
  }
}
