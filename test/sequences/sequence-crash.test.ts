// The sequence scheduler across worker processes sharing one PostgreSQL database: 10,000 subscribers
// whose first step falls due at once, two workers claiming them, one killed with SIGKILL inside a
// chunk's transaction (its subscribers claimed and their messages made, not committed). Every
// subscriber gets step 1 exactly once: one message per subscription, one mail per address at the sink.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import type { TestEngine } from '../support/engines.ts';
import { ADMIN_SECRET, startHarness, type Harness } from '../support/harness.ts';
import { createScratchDatabase } from '../support/scratch-postgres.ts';
import { startSmtpSink } from '../support/smtp-sink.ts';
import { killWorker as kill, startWorker as startScript, stopWorker as stop, within } from '../support/worker-process.ts';

const url = process.env.TEST_DATABASE_URL;
const CHILD = fileURLToPath(new URL('../support/sequence-worker-child.ts', import.meta.url));
const startWorker = (env: Record<string, string>, onText?: (text: string) => void) => startScript(CHILD, env, onText);
const SERVER_SECRET = 'sequence-crash-test-server-secret-0123456789';
const SUBSCRIBERS = 10_000;
const json = { 'content-type': 'application/json' };

describe('sequence scheduler crash safety [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL (PGlite serves one process)' }, () => {
  it('10,000 subscribers due at once, two workers, one killed mid-chunk: each gets step 1 exactly once', { timeout: 240_000 }, async (t) => {
    const started = Date.now();
    const scratch = await createScratchDatabase(url!, 'md_seqcrash');
    const sink = await startSmtpSink();
    const children: ChildProcess[] = [];
    let h: Harness | undefined;
    try {
      const engine: TestEngine = {
        name: 'postgres',
        async open() {
          const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 4 });
          await migrateToLatest(database.db);
          return database;
        },
      };
      h = await startHarness(engine, { MAILERDASH_SECRET: SERVER_SECRET });
      const db = h.database.db;
      const key = await h.newKey('drip', ['miempresa.com']);
      const call = (method: 'POST' | 'PATCH', path: string, payload: object) => h!.call({ method, url: path, headers: json, auth: key.secret, payload });
      const id = (await call('POST', '/v1/bulk/sequences', { name: 'Crash' })).json().id as string;
      for (const [i, offset] of [0, 86_400].entries()) {
        const res = await call('POST', `/v1/bulk/sequences/${id}/steps`, { position: i + 1, offset_seconds: offset, subject: 'Hola {{ name }}', body_text: 'Hola {{ name }}', from_email: 'hola@miempresa.com' });
        assert.equal(res.statusCode, 201, res.body);
      }
      assert.equal((await call('PATCH', `/v1/bulk/sequences/${id}`, { status: 'active' })).statusCode, 200);
      await sql`
        insert into contacts (key_id, email, name)
        select ${key.id}, 'r' || n || '@rcpt.test', 'Reader ' || n from generate_series(1, ${SUBSCRIBERS}) n`.execute(db);
      await sql`
        insert into sequence_subscribers (id, key_id, sequence_id, contact_id, email, status, started_at, next_due_at, created_at, updated_at)
        select 'sub_crash' || c.id, c.key_id, ${id}, c.id, c.email, 'active', now(), now() - interval '1 second', now(), now()
        from contacts c where c.key_id = ${key.id}`.execute(db);
      await sql`insert into sequence_due (subscriber_id, sequence_id, due_at) select id, sequence_id, next_due_at from sequence_subscribers where sequence_id = ${id}`.execute(db);

      const env = { DATABASE_URL: scratch.url, MAILERDASH_SECRET: SERVER_SECRET, MAILERDASH_ADMIN_KEY: ADMIN_SECRET, MAILERDASH_SMTP_URL: sink.url() };
      // The first worker only schedules: 3 chunks committed, then it stops inside the 4th.
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const first = await startWorker({ ...env, HOLD_AFTER: '3' }, (text) => text.includes('holding') && holding());
      children.push(first);
      const second = await startWorker({ ...env, SEND: '1' });
      children.push(second);
      await within(held, 30_000, 'the first worker to hold a chunk');
      const made = async () => Number((await sql<{ n: string }>`select count(*) as n from messages where sequence_subscriber_id is not null`.execute(db)).rows[0]!.n);
      const madeByFirst = await made();
      // While the first holds its chunk's row locks (and its share lock on the sequence), the second
      // keeps claiming around them (SKIP LOCKED): bounded polling, not a sleep for a time.
      for (let i = 0; i < 200 && (await made()) < madeByFirst + 1000; i++) await delay(50);
      const madeAtKill = await made();
      assert.ok(madeAtKill >= madeByFirst + 1000, 'the second worker claims past the held chunk');
      await kill(first);
      assert.ok(madeAtKill < SUBSCRIBERS, 'the kill landed part-way');

      await within(sink.waitFor(SUBSCRIBERS, 180_000), 180_000, 'a mail for every subscriber');
      // The outcomes follow the mails within the send job's flush delay: wait for them (bounded).
      for (let i = 0; i < 200; i++) {
        const left = await db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('status', '<>', 'sent').executeTakeFirstOrThrow();
        if (Number(left.n) === 0) break;
        await delay(100);
      }
      await stop(second);

      const perSubscriber = await sql<{ n: string; subs: string }>`
        select count(*) as subs, sum(case when k <> 1 then 1 else 0 end) as n from (
          select s.id, (select count(*) from messages m where m.sequence_subscriber_id = s.id) as k from sequence_subscribers s) x`.execute(db);
      assert.equal(Number(perSubscriber.rows[0]!.subs), SUBSCRIBERS);
      assert.equal(Number(perSubscriber.rows[0]!.n), 0, 'exactly one message per subscriber');
      assert.equal(sink.received.length, SUBSCRIBERS, 'no mail beyond one per subscriber');
      const perAddress = new Map<string, number>();
      for (const mail of sink.received) perAddress.set(mail.to[0]!, (perAddress.get(mail.to[0]!) ?? 0) + 1);
      assert.equal(perAddress.size, SUBSCRIBERS);
      assert.ok([...perAddress.values()].every((n) => n === 1), 'one mail per address');
      const states = await sql<{ position: number; waiting: string; n: string }>`
        select s.current_position as position, count(*) filter (where s.next_due_at = m.sent_at + interval '86400 seconds') as waiting, count(*) as n
        from sequence_subscribers s join messages m on m.sequence_subscriber_id = s.id group by s.current_position`.execute(db);
      assert.deepEqual(states.rows.map((r) => [r.position, Number(r.waiting), Number(r.n)]), [[1, SUBSCRIBERS, SUBSCRIBERS]], 'all at step 1, step 2 due a day after its send');
      t.diagnostic(`messages committed when the first worker held its 4th chunk: ${madeByFirst}, at the kill: ${madeAtKill}; ${Date.now() - started} ms`);
    } finally {
      for (const child of children) await kill(child);
      await h?.close();
      await sink.close();
      await scratch.drop();
    }
  });
});
