// Benchmark (not a test): one batch of BENCH_RECIPIENTS (100,000) recipients submitted through the
// service (the body streamed in 64 KB chunks, as the HTTP route reads it), then sent by the real
// workers (delivery job with the batch router, batch monitor) into Postfix's smtp-sink on loopback.
// In the same run and into the same sink: Postfix's smtp-source (the SMTP ceiling) and the campaign
// of bench:campaign to as many list members (the goal: a batch sends at least as fast as a campaign).
// Prints submission time, msg/s and RSS during submission and sending. Each engine runs in a child
// process of its own.
//   npm run bench:batch   (BENCH_RECIPIENTS, BENCH_ENGINES=postgres,pglite, BENCH_DATABASE_URL, BENCH_SUBMISSION_ONLY=1, BENCH_BATCH_FIRST=1)
import { ceilingLine, n, ofCeiling, runPerEngine } from './support/report.ts';
import os from 'node:os';
import { Readable } from 'node:stream';
import { CONNECTIONS, seedCampaign } from './support/campaign-seed.ts';
import { smtpSourceRate } from './support/postfix.ts';
import { withSendingBench } from './support/sending-bench.ts';
import { createWorkerRunner } from '../src/workers/runner.ts';
import type { Database } from '../src/db/database.ts';
import { backendCpuSeconds } from './support/pg-cpu.ts';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 100_000);
/** BENCH_SUBMISSION_ONLY=1: three submissions and no sending (the accept path alone, quickly). */
const SUBMISSION_ONLY = process.env.BENCH_SUBMISSION_ONLY === '1';
/** BENCH_BATCH_FIRST=1: the batch before the campaign (the order of the phases, swapped). */
const BATCH_FIRST = process.env.BENCH_BATCH_FIRST === '1';

interface Measured<T> {
  value: T;
  peakMb: number;
  seconds: number;
  /** CPU seconds of this process and of the database's backends (PostgreSQL only; 0 on PGlite, which runs in-process). */
  nodeCpu: number;
  dbCpu: number;
}

/** While `run` runs: RSS sampled every 250 ms (its peak in MB), wall time, and CPU of node and of PostgreSQL. */
async function measured<T>(database: Database, engine: string, run: () => Promise<T>): Promise<Measured<T>> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  const dbCpu = () => (engine === 'postgres' ? backendCpuSeconds(database.db) : Promise.resolve(0));
  const db0 = await dbCpu();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  try {
    const value = await run();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    return { value, peakMb: Math.round(peak / 1048576), seconds, nodeCpu: (used.user + used.system) / 1e6, dbCpu: (await dbCpu()) - db0 };
  } finally {
    clearInterval(sampler);
  }
}

/** CPU per message of a measured run: the load-robust figure. */
const perMessage = (m: Measured<unknown>) => `node ${((m.nodeCpu * 1000) / RECIPIENTS).toFixed(3)}, PostgreSQL ${((m.dbCpu * 1000) / RECIPIENTS).toFixed(3)} ms/msg`;

/** The batch body as the network would deliver it: generated piece by piece, never one string. */
function batchBody(templateId: string): Readable {
  async function* pieces(): AsyncGenerator<Buffer> {
    yield Buffer.from(`{"from":{"email":"news@bench.example","name":"Bench"},"template_id":"${templateId}","recipients":[`);
    let chunk = '';
    for (let i = 1; i <= RECIPIENTS; i++) {
      chunk += `${i > 1 ? ',' : ''}{"email":"batch${i}@example.org","name":"Reader ${i}","variables":{"plan":"${i % 2 ? 'free' : 'pro'}"}}`;
      if (chunk.length >= 65536) {
        yield Buffer.from(chunk);
        chunk = '';
      }
    }
    yield Buffer.from(`${chunk}]}`);
  }
  return Readable.from(pieces());
}

async function child(engine: string): Promise<void> {
  // Unsigned, as bench:campaign and bench:sequences send: the key's operator-verified domain has a
  // DKIM key, and signing every message would make this campaign several times slower than theirs.
  await withSendingBench(engine, async ({ database, sink, config, logger, context }) => {
    const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
    const principal = { keyId: key.id, name: 'bench', admin: false };
    const { listId, templateId } = await seedCampaign(database, key.id, RECIPIENTS);
    if (SUBMISSION_ONLY) {
      const times = [];
      for (let run = 0; run < 3; run++) times.push(await measured(database, engine, () => context.services.batches.submit(principal, batchBody(templateId), null)));
      console.log(`\n[${engine}] submission of ${n(RECIPIENTS)} recipients (stream, pre-check against ${n(RECIPIENTS)} contacts, accept), 3 runs`);
      console.log(`  ${times.map((t) => `${t.seconds.toFixed(2)} s (CPU node ${t.nodeCpu.toFixed(2)} s, PostgreSQL ${t.dbCpu.toFixed(2)} s)`).join(', ')}; RSS peak ${Math.max(...times.map((t) => t.peakMb))} MB`);
      return;
    }
    const ceiling = smtpSourceRate(sink.port, RECIPIENTS, CONNECTIONS);
    // The same jobs as `mailerdash worker` (campaign dispatcher, delivery with the batch router, batch monitor, …).
    const runner = createWorkerRunner({ jobs: context.jobs, pollMs: config.workerPollMs, logger });
    context.onQueued(() => runner.wake());
    runner.start();

    const campaign = await context.services.campaigns.create(principal, { name: 'Bench', list_id: listId, template_id: templateId, from_email: 'news@bench.example', tracking: false });
    const runCampaign = () =>
      measured(database, engine, async () => {
        await context.services.campaigns.act(principal, campaign.id, 'send');
        while ((await context.services.campaigns.get(principal, campaign.id)).status !== 'sent') await new Promise((r) => setTimeout(r, 100));
      });
    // The phase run second finds the first one's 100,000 messages (and their dead row versions) in the table.
    const campaignFirst = await (BATCH_FIRST ? null : runCampaign());

    const submission = await measured(database, engine, () => context.services.batches.submit(principal, batchBody(templateId), null));
    const batchId = (submission.value.body as { id: string }).id;
    // Polls the status column: GET /v1/batches/{id} counts every message of the batch, which every
    // 100 ms cost the database as much as a good part of the sending (the campaign's poll reads a row).
    const status = async () => (await database.db.selectFrom('batches').select('status').where('id', '=', batchId).executeTakeFirstOrThrow()).status;
    const sending = await measured(database, engine, async () => {
      while ((await status()) !== 'completed') await new Promise((r) => setTimeout(r, 100));
    });
    const campaignRun = campaignFirst ?? (await runCampaign());
    await runner.stop();
    const batch = await context.services.batches.get(principal, batchId);

    const batchRate = RECIPIENTS / sending.seconds;
    const campaignRate = RECIPIENTS / campaignRun.seconds;
    console.log(`\n[${engine}] batch of ${n(RECIPIENTS)} recipients (template of bench:campaign), unsigned, ${os.availableParallelism()} cores, ${BATCH_FIRST ? 'batch first' : 'campaign first'}`);
    console.log(`  submission (stream, pre-check, accept): ${submission.seconds.toFixed(2)} s (CPU node ${submission.nodeCpu.toFixed(2)} s, PostgreSQL ${submission.dbCpu.toFixed(2)} s); RSS peak ${submission.peakMb} MB`);
    console.log(ceilingLine(ceiling));
    console.log(`  campaign (dispatch + send):             ${ofCeiling(campaignRate, ceiling)}; ${perMessage(campaignRun)}`);
    console.log(`  batch (accepted -> completed):          ${ofCeiling(batchRate, ceiling)}, ${Math.round((100 * batchRate) / campaignRate)}% of the campaign; ${perMessage(sending)}; RSS peak ${sending.peakMb} MB`);
    console.log(`  batch counts: sent ${batch.counts.sent}, failed ${batch.counts.failed}, rejected ${batch.counts.rejected}; outcome ${batch.outcome}`);
  }, {}, { unsigned: true });
}

await runPerEngine(import.meta.url, child);
process.exit(0);
