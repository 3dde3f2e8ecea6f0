// Kill -9 a submission listener while clients are sending: every message answered 250 is in the
// database, and a client that got no 250 sends again without anything being queued twice.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { createContext, createLogger } from '../../src/composition.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { startDnsServer } from '../support/dns-server.ts';
import { freePort } from '../support/ports.ts';
import { createScratchDatabase } from '../support/scratch-postgres.ts';
import { killWorker, startWorker, stopWorker, within } from '../support/worker-process.ts';

const url = process.env.TEST_DATABASE_URL;
const CHILD = fileURLToPath(new URL('../support/submission-child.ts', import.meta.url));
const TOTAL = 160;

describe('submission crash safety [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL (PGlite serves one process)' }, () => {
  it('after kill -9 no 250-answered message is lost, and retries of the unanswered ones queue each once', async (t) => {
    const scratch = await createScratchDatabase(url!, 'md_subcrash');
    const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 2 });
    const dns = await startDnsServer({ 'example.com': [{ type: 'MX', exchange: 'mx.example.com', priority: 10 }] });
    const children: ChildProcess[] = [];
    try {
      await migrateToLatest(database.db);
      const context = createContext(loadConfig({ MAILERDASH_HOSTNAME: 'mta.test' }), database, createLogger('silent'));
      const { secret } = await context.services.keys.createKey({ name: 'crash', domains: ['example.test'] });
      const port = await freePort();
      const env = { DATABASE_URL: scratch.url, DNS_SERVERS: dns.address, SUBMISSION_PORT: String(port) };
      const mail = (i: number) => ({ from: 'app@example.test', to: `r${i}@example.com`, subject: `message ${i}`, text: `body ${i}\n`.repeat(200), messageId: `<crash-${i}@client.test>` });
      const transport = () =>
        nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 8, auth: { user: 'apikey', pass: secret } });

      const first = await startWorker(CHILD, env);
      const started = Date.now();
      children.push(first);
      const answered = new Map<number, string>();
      const client = transport();
      let killed: Promise<void> | null = null;
      await Promise.allSettled(
        Array.from({ length: TOTAL }, (_, i) =>
          client.sendMail(mail(i)).then((info) => {
            answered.set(i, info.response);
            if (answered.size >= 40) killed ??= killWorker(first);
          }),
        ),
      );
      await killed;
      client.close();
      t.diagnostic(`phase 1 done ${Date.now() - started} ms`);
      assert.ok(answered.size >= 40 && answered.size < TOTAL, `the kill fell mid-run (${answered.size} of ${TOTAL} answered)`);
      const idsOf = (response: string) => response.match(/msg_\w+/g) ?? [];

      // Every 250 is durable: the ids it named are in the database.
      const rows = await database.db.selectFrom('messages').select(['id', 'to_email']).execute();
      const stored = new Set(rows.map((r) => r.id));
      for (const [i, response] of answered) for (const id of idsOf(response)) assert.ok(stored.has(id), `message ${i} (${id}) was answered 250 but is not stored`);
      const committedUnanswered = rows.length - answered.size;

      // The client sends again what got no 250, to a restarted relay.
      const second = await startWorker(CHILD, env);
      children.push(second);
      const retry = transport();
      const missing = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => !answered.has(i));
      await Promise.all(missing.map(async (i) => answered.set(i, (await within(retry.sendMail(mail(i)), 20_000, `retry of ${i}`)).response)));
      retry.close();
      t.diagnostic(`retries done ${Date.now() - started} ms`);
      await stopWorker(second);
      t.diagnostic(`stopped ${Date.now() - started} ms`);

      const contents = await database.db.selectFrom('message_contents').select(['submitted_id']).execute();
      assert.equal(contents.length, TOTAL, 'one content per submitted message');
      assert.equal(new Set(contents.map((c) => c.submitted_id)).size, TOTAL);
      const final = await database.db.selectFrom('messages').select(['id', 'to_email']).execute();
      assert.equal(final.length, TOTAL, 'one message per recipient, none doubled');
      assert.equal(new Set(final.map((m) => m.to_email)).size, TOTAL);
      const finalIds = new Set(final.map((m) => m.id));
      for (const [i, response] of answered) assert.ok(idsOf(response).every((id) => finalIds.has(id)), `message ${i}: the 250 names stored ids`);
      t.diagnostic(`at kill: ${TOTAL - missing.length} answered 250, ${committedUnanswered} committed without their 250 reaching the client; ${missing.length} retried`);
    } finally {
      for (const child of children) await killWorker(child);
      await database.close();
      await dns.close();
      await scratch.drop();
    }
  });
});
