// bench:inbound: DSNs per second through the inbound listener end to end (SMTP accept, raw store,
// the inbound-reports job: parse, classify, match by signed VERP token, bounce the message,
// suppress the address, bounce the contact), against a ceiling measured in the same run: a bare
// smtp-server that accepts and discards the same mails from the same nodemailer client.
//   BENCH_DSNS (default 5000), BENCH_ENGINES (default pglite,postgres), BENCH_DATABASE_URL.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { createContext, createLogger } from '../src/composition.ts';
import { loadConfig } from '../src/config.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createWorkerRunner } from '../src/workers/runner.ts';
import { dsnMail } from '../src/modules/inbound/test-fixtures.ts';
import { openBenchEngine } from './support/campaign-seed.ts';

const N = Number(process.env.BENCH_DSNS ?? 5000);
const CONNECTIONS = 8;
const ENGINES = (process.env.BENCH_ENGINES ?? 'pglite,postgres').split(',').filter(Boolean);

async function sendAll(port: number, mails: Array<{ to: string; raw: string }>): Promise<number> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: CONNECTIONS, maxMessages: Infinity });
  const started = performance.now();
  await Promise.all(mails.map((m) => transport.sendMail({ envelope: { from: '', to: [m.to] }, raw: m.raw })));
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  return seconds;
}

/** The ceiling: smtp-server accepting the same mails and throwing them away. */
async function ceiling(mails: Array<{ to: string; raw: string }>): Promise<number> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('end', () => callback());
      stream.resume();
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const seconds = await sendAll((server.server.address() as AddressInfo).port, mails);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return N / seconds;
}

async function run(engine: string) {
  const database = await openBenchEngine(engine);
  await migrateToLatest(database.db);
  const config = loadConfig({ MAILERDASH_HOSTNAME: 'bench.example', MAILERDASH_BOUNCE_DOMAIN: 'bounce.bench.example', MAILERDASH_INBOUND_RATE: '0', MAILERDASH_WORKER_POLL_MS: '20', MAILERDASH_DATA_DIR: os.tmpdir() });
  const context = createContext(config, database, createLogger('silent'));
  await context.services.links.ready();
  const { key } = await context.services.keys.createKey({ name: 'bench', domains: ['news.bench.example'] });
  const db = database.db;
  await db.insertInto('message_contents').values({ id: 'mc_bench', key_id: key.id, from_email: 'news@news.bench.example', from_name: null, reply_to: 'null', subject: 'Hi', html: '<p>hi</p>', text: 'hi' }).execute();
  await sql`insert into contacts (key_id, email, name, metadata) select ${key.id}, 'reader' || g || '@rcpt.example', null, '{}' from generate_series(1, ${N}) g`.execute(db);
  await sql`
    insert into messages (id, key_id, content_id, channel, lane, status, to_email, sent_at)
    select 'msg_bench' || lpad(g::text, 12, '0'), ${key.id}, 'mc_bench', 'bulk', 1, 'sent', 'reader' || g || '@rcpt.example', now()
    from generate_series(1, ${N}) g`.execute(db);
  const mails = Array.from({ length: N }, (_, i) => {
    const id = `msg_bench${String(i + 1).padStart(12, '0')}`;
    const recipient = `reader${i + 1}@rcpt.example`;
    return { to: context.services.links.returnPath(id), raw: dsnMail({ recipient, status: '5.1.1', diagnostic: `550 5.1.1 <${recipient}>: Recipient address rejected: User unknown in virtual mailbox table`, originalMessageId: `${id}@bench.example` }) };
  });

  const ceilingRate = await ceiling(mails);

  const listener = context.createInboundListener();
  const port = await listener.listen(0, '127.0.0.1');
  const job = context.jobs.find((j) => j.name === 'inbound-reports')!;
  const runner = createWorkerRunner({ jobs: [job], pollMs: 20, logger: context.logger });
  context.onQueued(() => runner.wake());
  const together = process.env.BENCH_PHASES !== 'apart';
  if (together) runner.start();
  const started = performance.now();
  const acceptSeconds = await sendAll(port, mails);
  if (!together) {
    console.log(`  (apart) accept alone: ${(N / acceptSeconds).toFixed(0)} msg/s`);
    runner.start();
  }
  let left = N;
  while (left > 0) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    left = Number((await db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow()).n);
  }
  const endToEndSeconds = (performance.now() - started) / 1000;
  await runner.stop();
  await listener.close();
  const bounced = Number((await db.selectFrom('suppressions').select((eb) => eb.fn.countAll<number>().as('n')).where('source_type', '=', 'dsn').executeTakeFirstOrThrow()).n);
  const processed = Number((await db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'processed').executeTakeFirstOrThrow()).n);
  await database.close();
  await database.drop();

  const accept = N / acceptSeconds;
  const endToEnd = N / endToEndSeconds;
  console.log(`\n${engine}: ${N} DSNs over ${CONNECTIONS} connections (${mails[0]!.raw.length} bytes each)`);
  console.log(`  ceiling (bare smtp-server, discard): ${ceilingRate.toFixed(0)} msg/s`);
  console.log(`  listener accept (stored raw before 250): ${accept.toFixed(0)} msg/s = ${((accept / ceilingRate) * 100).toFixed(1)} % of the ceiling`);
  console.log(`  end to end (accepted, processed, suppressed): ${endToEnd.toFixed(0)} DSN/s = ${((endToEnd / ceilingRate) * 100).toFixed(1)} % of the ceiling`);
  console.log(`  check: ${processed} processed, ${bounced} suppressions from DSNs (want ${N} each)`);
  if (processed !== N || bounced !== N) process.exitCode = 1;
}

console.log(`bench:inbound on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
for (const engine of ENGINES) await run(engine);
