// Benchmark (not a test): one campaign to BENCH_CONTACTS (100,000) list members, dispatched and sent
// through the real workers (campaign dispatcher + delivery job, running concurrently as in
// `mailerdash worker`) into Postfix's smtp-sink on loopback, beside Postfix's smtp-source into the
// same sink in the same run (the SMTP ceiling). Unsigned (as behind a relay that signs). Prints
// messages/s, CPU per message, and RSS over the run (peak and samples, to show it stays flat).
// Each engine runs in a child process of its own so CPU and RSS are its own.
//   npm run bench:campaign   (BENCH_CONTACTS, BENCH_ENGINES=postgres,pglite, BENCH_DATABASE_URL, BENCH_TRACKING=0|1)
import { ceilingLine, n, ofCeiling, runPerEngine } from './support/report.ts';
import os from 'node:os';
import { sql } from 'kysely';
import { backendCpuSeconds } from './support/pg-cpu.ts';
import { CONNECTIONS, HTML, TEXT, seedCampaign, campaignBenchConfig, openBenchEngine } from './support/campaign-seed.ts';
import { cpuSecondsOf, smtpSourceRate, startSmtpSink } from './support/postfix.ts';
import { createContext, createLogger } from '../src/composition.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createCampaignDispatcher } from '../src/workers/campaign-dispatcher.ts';
import { createDeliveryJob, handOffFromConfig } from '../src/workers/delivery.ts';
import { createWorkerRunner } from '../src/workers/runner.ts';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const TRACKING = process.env.BENCH_TRACKING === '1';
const ERASED = Number(process.env.BENCH_ERASED ?? 0);


async function child(engine: string): Promise<void> {
  const database = await openBenchEngine(engine);
  const sink = await startSmtpSink();
  try {
    await migrateToLatest(database.db);
    const config = campaignBenchConfig(sink.port);
    const logger = createLogger('silent');
    const context = createContext(config, database, logger);
    const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
    const { listId, templateId } = await seedCampaign(database, key.id, CONTACTS);
    // BENCH_ERASED=n: the key has n erased addresses (hashed suppression entries), so every member is hashed at dispatch and send.
    if (ERASED) {
      await sql`insert into erased_suppressions (key_id, email_hash, reason, erased_at)
                select ${key.id}, md5(g::text) || md5((g + 1)::text), 'manual', now() from generate_series(1, ${ERASED}) g`.execute(database.db);
    }
    const principal = { keyId: key.id, name: 'bench', admin: false };

    const ceiling = smtpSourceRate(sink.port, CONTACTS, CONNECTIONS);

    // Unsigned: the same workers as `mailerdash worker`, with no DKIM key (as behind a signing relay).
    const handOff = handOffFromConfig(config);
    const delivery = createDeliveryJob({ config, db: database.db, logger, signingKeyFor: async () => null, links: context.services.links, handOff, erased: context.erasedAddresses });
    const dispatcher = createCampaignDispatcher({ db: database.db, logger, handOff, erased: context.erasedAddresses, onQueued: () => runner.wake() });
    const runner = createWorkerRunner({ jobs: [dispatcher, delivery], pollMs: config.workerPollMs, logger });

    const campaign = await context.services.campaigns.create(principal, { name: 'Bench', list_id: listId, template_id: templateId, from_email: 'news@bench.example', tracking: TRACKING });
    const rssSamples: number[] = [];
    let peak = 0;
    const sampler = setInterval(() => {
      const rss = process.memoryUsage().rss / 1048576;
      peak = Math.max(peak, rss);
      rssSamples.push(rss);
    }, 250);
    const cpu = process.cpuUsage();
    const sinkCpu = cpuSecondsOf(sink.child.pid!);
    const dbCpu = engine === 'postgres' ? await backendCpuSeconds(database.db) : 0;
    const start = process.hrtime.bigint();
    await context.services.campaigns.act(principal, campaign.id, 'send');
    runner.start();
    while ((await context.services.campaigns.get(principal, campaign.id)).status !== 'sent') await new Promise((r) => setTimeout(r, 100));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    const sinkUsed = cpuSecondsOf(sink.child.pid!) - sinkCpu;
    const dbUsed = engine === 'postgres' ? (await backendCpuSeconds(database.db)) - dbCpu : 0;
    clearInterval(sampler);
    await runner.stop();
    await delivery.close();

    const stats = await context.services.campaigns.stats(principal, campaign.id);
    const rate = CONTACTS / seconds;
    const at = (f: number) => Math.round(rssSamples[Math.min(rssSamples.length - 1, Math.floor(rssSamples.length * f))] ?? 0);
    console.log(`\n[${engine}] campaign to ${n(CONTACTS)} contacts, ~${Math.round((HTML.length + TEXT.length) / 1024)} KB per message, tracking ${TRACKING ? 'on' : 'off'}, ${ERASED} erased addresses, unsigned, ${os.availableParallelism()} cores`);
    console.log(ceilingLine(ceiling));
    console.log(`  campaign (dispatch + send):        ${ofCeiling(rate, ceiling)}, ${seconds.toFixed(1)} s`);
    console.log(`  node CPU ${((used.user + used.system) / 1000 / CONTACTS).toFixed(3)} ms/msg (PostgreSQL backends ${((dbUsed * 1000) / CONTACTS).toFixed(3)}, sink ${((sinkUsed * 1000) / CONTACTS).toFixed(3)} ms/msg)`);
    console.log(`  RSS: peak ${Math.round(peak)} MB; at 10/25/50/75/100% of the run: ${[0.1, 0.25, 0.5, 0.75, 1].map(at).join(' / ')} MB`);
    console.log(`  stats: recipients ${stats.recipients}, sent ${stats.sent}, failed ${stats.failed}, pending ${stats.pending}`);
  } finally {
    sink.child.kill();
    await database.close();
    await database.drop();
  }
}

await runPerEngine(import.meta.url, child);
