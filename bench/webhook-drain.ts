// Benchmark (not a test): what one webhook event costs to emit and deliver, with no campaign beside it.
// N message.sent-like events are emitted in chunks of 200 (as the send job's outcome statement does),
// then the delivery job alone drains them into the receiver. CPU per event: node, PostgreSQL, receiver.
//   node --import tsx bench/webhook-drain.ts   (BENCH_EVENTS, default 20,000)
import { sql } from 'kysely';
import { openBenchEngine, campaignBenchConfig } from './support/campaign-seed.ts';
import { backendCpuSeconds } from './support/pg-cpu.ts';
import { httpCeiling, startWebhookReceiver } from './support/webhook-receiver.ts';
import { createContext, createLogger } from '../src/composition.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { emitEvents } from '../src/modules/events/outbox.ts';
import { createWorkerRunner } from '../src/workers/runner.ts';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const database = await openBenchEngine('postgres');
const receiver = await startWebhookReceiver();
try {
  await migrateToLatest(database.db);
  const config = campaignBenchConfig(25, { MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
  const context = createContext(config, database, createLogger('warn'));
  const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
  await context.services.webhooks.create({ keyId: key.id, name: 'b', admin: false }, { url: `http://127.0.0.1:${receiver.port}/hook`, events: ['message.*'] });
  const c0 = process.cpuUsage();
  const h = await httpCeiling(receiver.port, 20_000, config.webhookConcurrency);
  const c1 = process.cpuUsage(c0);
  console.log(`ceiling ${Math.round(h)} req/s, sender ${((c1.user + c1.system) / 1e3 / 20_000).toFixed(3)} ms/req`);
  const jobs = context.jobs.filter((j) => j.name.startsWith('webhook'));
  const pg0 = await backendCpuSeconds(database.db);
  const e0 = process.cpuUsage();
  const t0 = Date.now();
  for (let i = 0; i < N; i += 200) {
    const chunk = Array.from({ length: Math.min(200, N - i) }, (_, j) => ({
      keyId: key.id,
      type: 'message.sent' as const,
      data: { message_id: `msg_${i + j}`, key_id: key.id, email: `r${i + j}@example.org`, channel: 'bulk', campaign_id: 'cmp_x', request_id: null, custom_args: {}, response: '250 2.0.0 Ok: queued' },
    }));
    await database.db.transaction().execute((trx) => emitEvents(trx, chunk, new Date()));
  }
  const e1 = process.cpuUsage(e0);
  const pg1 = await backendCpuSeconds(database.db);
  console.log(`emit: ${((Date.now() - t0) / 1000).toFixed(1)} s, node ${((e1.user + e1.system) / 1e3 / N).toFixed(4)} ms/event, pg ${(((pg1 - pg0) * 1e3) / N).toFixed(4)} ms/event`);
  await sql`analyze`.execute(database.db);
  const r0 = receiver.cpuSeconds();
  const d0 = process.cpuUsage();
  const pg2 = await backendCpuSeconds(database.db);
  const start = Date.now();
  const runner = createWorkerRunner({ jobs, pollMs: 20, logger: createLogger('warn') });
  runner.start();
  while ((await receiver.count()) < N) await new Promise((r) => setTimeout(r, 20));
  const secs = (Date.now() - start) / 1000;
  const d1 = process.cpuUsage(d0);
  const pg3 = await backendCpuSeconds(database.db);
  await runner.stop();
  const st = await receiver.stats();
  const retried = await sql<{ attempts: number; status: string; last_error: string | null; n: number }>`
    select attempts, status, last_error, count(*)::int as n from webhook_deliveries where attempts <> 1 or status <> 'delivered' group by 1, 2, 3 order by n desc limit 5`.execute(database.db);
  if (retried.rows.length) console.log('deliveries not delivered at their first attempt:', retried.rows);
  console.log(
    `drain: ${Math.round(N / secs)} events/s; node ${((d1.user + d1.system) / 1e3 / N).toFixed(4)} ms/event, pg ${(((pg3 - pg2) * 1e3) / N).toFixed(4)}, receiver ${(((receiver.cpuSeconds() - r0) * 1e3) / N).toFixed(4)}; repeats ${st.repeats}`,
  );
} finally {
  receiver.stop();
  await database.close();
  await database.drop();
}
process.exit(0);
