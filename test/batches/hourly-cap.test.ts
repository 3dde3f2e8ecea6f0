// An hourly cap holds across two worker processes: the count is in the database, not in a process.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { createContext, createLogger } from '../../src/composition.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createBatchDispatcher } from '../../src/workers/batch-dispatcher.ts';
import { SEND_ZONE, clone } from '../../src/modules/send/test-fixtures.ts';
import { startDnsServer } from '../support/dns-server.ts';
import { createScratchDatabase } from '../support/scratch-postgres.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import { startWorker, stopWorker, within } from '../support/worker-process.ts';

const url = process.env.TEST_DATABASE_URL;
const CHILD = fileURLToPath(new URL('../support/send-worker-child.ts', import.meta.url));
const NOW = new Date('2026-03-02T10:15:00Z');
const CAP = 40;
const TOTAL = 200;

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  await within(
    (async () => {
      while (!(await condition())) await new Promise((r) => setTimeout(r, 25));
    })(),
    60_000,
    what,
  );
}

describe('batch hourly cap across worker processes [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL (PGlite serves one process)' }, () => {
  it('two workers on one injected clock send at most the cap per provider this hour; the rest waits for the next', async () => {
    const scratch = await createScratchDatabase(url!, 'md_cap');
    const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 2 });
    const dns = await startDnsServer(clone(SEND_ZONE));
    const [a, b] = [await startSmtpSink(), await startSmtpSink()];
    const children: ChildProcess[] = [];
    try {
      await migrateToLatest(database.db);
      const providers = JSON.stringify({ 'smtp-a': { type: 'smtp', url: a.url() }, 'smtp-b': { type: 'smtp', url: b.url() } });
      const config = loadConfig({ MAILERDASH_HOSTNAME: 'mta.test', MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_PROVIDERS: providers });
      const context = createContext(config, database, createLogger('silent'));
      const { key } = await context.services.keys.createKey({ name: 'cap', domains: ['tu-dominio.com'] });
      const principal = { keyId: key.id, name: 'cap', admin: false };
      const body = JSON.stringify({
        from: { email: 'news@tu-dominio.com' },
        subject: 'Hola',
        content: [{ type: 'text/plain', value: 'Hola' }],
        recipients: Array.from({ length: TOTAL }, (_, i) => ({ email: `r${i}@example.com` })),
        provider_policy: { providers: ['smtp-a', 'smtp-b'], strategy: 'failover', hourly_cap: CAP },
      });
      const accepted = await context.services.batches.submit(principal, Readable.from([Buffer.from(body)]), null);
      const batchId = (accepted.body as { id: string }).id;
      // The batch's messages made (queued, for any worker, as without a hand-off), then due now on the workers' clock.
      const dispatcher = createBatchDispatcher({ db: database.db, logger: createLogger('silent') });
      while ((await dispatcher.runOnce()) > 0);
      await sql`update messages set due_at = ${NOW} where batch_id = ${batchId}`.execute(database.db);

      const env = { DATABASE_URL: scratch.url, SMTP_A_URL: a.url(), SMTP_B_URL: b.url(), NOW: NOW.toISOString() };
      children.push(await startWorker(CHILD, env), await startWorker(CHILD, env));
      const nextHour = new Date('2026-03-02T11:00:00Z');
      await until(async () => {
        const { rows } = await sql<{ sent: number; waiting: number }>`
          select count(*) filter (where status = 'sent')::int as sent,
                 count(*) filter (where status in ('queued', 'deferred') and due_at = ${nextHour})::int as waiting
          from messages where batch_id = ${batchId}`.execute(database.db);
        return rows[0]!.sent === 2 * CAP && rows[0]!.waiting === TOTAL - 2 * CAP;
      }, 'the capped hour to fill');
      for (const child of children.splice(0)) await stopWorker(child);

      assert.equal(a.received.length, CAP);
      assert.equal(b.received.length, CAP);
      const { rows: usage } = await sql<{ provider: string; used: number }>`select provider, used from provider_hourly_usage order by provider`.execute(database.db);
      assert.deepEqual(usage.map((u) => [u.provider, Number(u.used)]), [['smtp-a', CAP], ['smtp-b', CAP]]);
      const decisions = await database.db.selectFrom('batch_decisions').select(['provider', 'reason', 'count']).where('batch_id', '=', batchId).orderBy('id').execute();
      assert.equal(decisions.filter((d) => d.provider === 'smtp-a').reduce((n, d) => n + d.count, 0), CAP);
      assert.equal(decisions.filter((d) => d.provider === 'smtp-b').reduce((n, d) => n + d.count, 0), CAP);
      assert.ok(decisions.some((d) => d.provider === null && d.reason === 'cap_reached'), JSON.stringify(decisions));
    } finally {
      for (const child of children) await stopWorker(child).catch(() => child.kill('SIGKILL'));
      await a.close();
      await b.close();
      await dns.close();
      await database.close();
      await scratch.drop();
    }
  });
});
