// Webhook delivery across worker processes sharing one PostgreSQL database: a kill -9 mid-delivery loses
// no event (a restarted worker sends the rest, repeating only what the dead one had not recorded), and
// two workers running at once deliver each event once per endpoint.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { emitEvents, type NewEvent } from '../../src/modules/events/outbox.ts';
import type { TestEngine } from '../support/engines.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/scratch-postgres.ts';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from '../support/webhook-receiver.ts';
import { killWorker as kill, startWorker as startScript, stopWorker as stop, within } from '../support/worker-process.ts';

const url = process.env.TEST_DATABASE_URL;
const CHILD = fileURLToPath(new URL('../support/webhook-worker-child.ts', import.meta.url));
const startWorker = (env: Record<string, string>, onText?: (text: string) => void) => startScript(CHILD, env, onText);
// Passed to both the harness (which seals the signing secrets) and the children (which open them).
const SERVER_SECRET = 'webhook-crash-test-server-secret-0123456789';
const CONCURRENCY = 8;
const json = { 'content-type': 'application/json' };

const idOf = (hook: ReceivedHook) => String(hook.headers['webhook-id']);

function verify(secret: string, hook: ReceivedHook): { type: string; data: Record<string, unknown> } {
  const headers = { 'webhook-id': idOf(hook), 'webhook-timestamp': String(hook.headers['webhook-timestamp']), 'webhook-signature': String(hook.headers['webhook-signature']) };
  return new Webhook(secret).verify(hook.body, headers) as { type: string; data: Record<string, unknown> };
}

/** Resolves once the receiver has seen every one of `ids`: waits for at least as many more requests as are missing. */
async function untilAllReceived(receiver: WebhookReceiver, ids: Set<string>): Promise<void> {
  for (;;) {
    const seen = new Set(receiver.received.map(idOf));
    let missing = 0;
    for (const id of ids) if (!seen.has(id)) missing++;
    if (!missing) return;
    await receiver.waitFor(receiver.received.length + missing);
  }
}

/** Writes `total` events for the key in transactions of `batch`, as state changes would; returns their ids. */
async function writeEvents(h: Harness, keyId: string, total: number, batch: number): Promise<Set<string>> {
  const db = h.database.db;
  const types = ['campaign.sent', 'contact.unsubscribed', 'message.sent'] as const;
  const before = await db.selectFrom('events').select('id').execute();
  for (let from = 0; from < total; from += batch) {
    const events: NewEvent[] = Array.from({ length: Math.min(batch, total - from) }, (_, i) => ({ keyId, type: types[(from + i) % types.length]!, data: { n: from + i } }));
    const kept = await db.transaction().execute((trx) => emitEvents(trx, events, new Date()));
    assert.equal(kept, events.length, 'every event kept: the key has a subscribed endpoint');
  }
  const old = new Set(before.map((e) => e.id));
  const ids = new Set((await db.selectFrom('events').select('id').execute()).map((e) => e.id).filter((id) => !old.has(id)));
  assert.equal(ids.size, total);
  return ids;
}

/** A harness (API, for the key and endpoints) on a migrated scratch database whose URL the workers get too. */
async function scratchHarness(scratch: ScratchDatabase): Promise<Harness> {
  const engine: TestEngine = {
    name: 'postgres',
    async open() {
      const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 4 });
      await migrateToLatest(database.db);
      return database;
    },
  };
  return startHarness(engine, { MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MAILERDASH_SECRET: SERVER_SECRET });
}

async function newEndpoint(h: Harness, keySecret: string, target: string): Promise<{ id: string; secret: string }> {
  const res = await h.call({ method: 'POST', url: '/v1/webhooks', headers: json, auth: keySecret, payload: { url: target } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as { id: string; secret: string };
}

async function deliveryStatuses(h: Harness): Promise<Record<string, number>> {
  const rows = await h.database.db.selectFrom('webhook_deliveries').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

describe('webhook delivery crash safety [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL (PGlite serves one process)' }, () => {
  it('a kill -9 between a state change and its delivery loses no event', async (t) => {
    const started = Date.now();
    const scratch = await createScratchDatabase(url!, 'md_whcrash');
    const receiver = await startWebhookReceiver();
    const children: ChildProcess[] = [];
    let h: Harness | undefined;
    try {
      h = await scratchHarness(scratch);
      const db = h.database.db;
      const key = await h.newKey('crash');
      const endpoint = await newEndpoint(h, key.secret, receiver.url());
      const total = 2000;
      const ids = await writeEvents(h, key.id, total, 250);

      // The first worker gets answers for KILL_AT requests; the ones after hang, so that when the kill
      // lands exactly CONCURRENCY attempts are in flight (sent, unanswered), some answered attempts may
      // not be recorded yet (outcomes are written in batches), and most deliveries are still to do.
      const KILL_AT = 300;
      let firstWorker = true;
      receiver.answer = (_hook, index) => (firstWorker && index >= KILL_AT ? 'hang' : { status: 200, body: 'ok' });
      const env = { DATABASE_URL: scratch.url, MAILERDASH_SECRET: SERVER_SECRET, CONCURRENCY: String(CONCURRENCY) };

      const first = await startWorker(env);
      children.push(first);
      await within(receiver.waitFor(KILL_AT + CONCURRENCY), 90_000, 'the first worker to fill its attempts');
      await kill(first);
      firstWorker = false;
      const sentByFirst = receiver.received.length;
      assert.equal(sentByFirst, KILL_AT + CONCURRENCY, 'the first worker had no room for more attempts');

      const atKill = await sql<{ id: string; status: string }>`
        select e.id, d.status from webhook_deliveries d join events e on e.seq = d.event_seq`.execute(db);
      const deliveredAtKill = new Set(atKill.rows.filter((r) => r.status === 'delivered').map((r) => r.id));
      const pendingAtKill = atKill.rows.filter((r) => r.status === 'pending').length;
      // Each event was written with its delivery (fan-out at emit): none waits to be fanned out.
      assert.equal(atKill.rows.length, total, 'one delivery per event from the moment it was written');
      assert.equal(deliveredAtKill.size + pendingAtKill, total, 'only delivered and pending deliveries');
      assert.ok(deliveredAtKill.size < total, 'the kill landed before the end');

      // The dead worker's endpoint lease would lapse on its own after 30 s (ENDPOINT_LEASE_MS); expiring
      // it here stands for that lapse, to keep the test short. Its deliveries are plain pending rows:
      // the endpoint's next holder sends whatever is not recorded delivered.
      await sql`update webhooks set lease_until = now() - interval '1 second' where lease_until is not null`.execute(db);
      const toSend = total - deliveredAtKill.size;

      const second = await startWorker(env);
      children.push(second);
      await within(untilAllReceived(receiver, ids), 120_000, 'every event after the restart');
      // The second worker sends each delivery not recorded delivered exactly once (nothing fails).
      await within(receiver.waitFor(sentByFirst + toSend), 90_000, 'every delivery left at the kill');
      await stop(second);

      const hooks = receiver.received;
      assert.equal(hooks.length, sentByFirst + toSend, 'no request beyond one per delivery left at the kill');
      const counts = new Map<string, number>();
      for (const hook of hooks) counts.set(idOf(hook), (counts.get(idOf(hook)) ?? 0) + 1);
      assert.equal(counts.size, total, 'every event arrived');
      for (const id of counts.keys()) assert.ok(ids.has(id), `${id} is not one of the events`);
      let duplicates = 0;
      for (const [id, count] of counts) {
        assert.ok(count <= 2, `${id} arrived ${count} times`);
        if (count === 2) {
          duplicates++;
          assert.ok(!deliveredAtKill.has(id), `${id} was recorded delivered before the kill, yet sent again`);
        }
      }
      const unrecorded = sentByFirst - deliveredAtKill.size;
      t.diagnostic(
        `at kill: ${sentByFirst} requests received (${CONCURRENCY} hanging), ${deliveredAtKill.size} recorded delivered, ${unrecorded - CONCURRENCY} answered but unrecorded, ` +
          `${pendingAtKill} pending; ${duplicates} events arrived twice; ${Date.now() - started} ms`,
      );
      // A repeat is possible only for an attempt the receiver got but the dead worker had not recorded,
      // and every such attempt is repeated: the hanging ones, and answered ones whose outcome was still
      // in the job's write batch (outcomes are written every 20 ms or 200 at a time, FLUSH_DELAY_MS and
      // FLUSH_BATCH in webhook-delivery.ts). So the repeats are the attempts in flight at the kill plus
      // up to one write batch, not 2 × concurrency: about 20 ms of answers can be lost with the process.
      for (const hook of hooks.slice(KILL_AT, sentByFirst)) assert.equal(counts.get(idOf(hook)), 2, 'a hanging attempt is repeated');
      assert.equal(duplicates, unrecorded, 'the repeats are exactly the attempts received but not recorded at the kill');
      assert.ok(duplicates <= CONCURRENCY + 200, `${duplicates} duplicates, more than ${CONCURRENCY} in flight + one write batch of 200`);

      assert.deepEqual(await deliveryStatuses(h), { delivered: total });
      const rows = await db.selectFrom('webhook_deliveries').select(['endpoint_id', 'last_status']).execute();
      assert.ok(rows.every((r) => r.endpoint_id === endpoint.id && r.last_status === 200));
      // Both workers signed with the secret the API sealed (the second one's requests come last).
      for (const hook of [hooks[0]!, hooks[KILL_AT - 1]!, hooks[hooks.length - 1]!]) verify(endpoint.secret, hook);
    } finally {
      for (const child of children) await kill(child);
      await receiver.close();
      await h?.close();
      await scratch.drop();
    }
  });

  it('two worker processes deliver each event once per endpoint', async (t) => {
    const started = Date.now();
    const scratch = await createScratchDatabase(url!, 'md_whtwo');
    const receivers = [await startWebhookReceiver(), await startWebhookReceiver()];
    const children: ChildProcess[] = [];
    let h: Harness | undefined;
    try {
      h = await scratchHarness(scratch);
      const key = await h.newKey('two-workers');
      const endpoints: Array<{ id: string; secret: string }> = [];
      for (const receiver of receivers) endpoints.push(await newEndpoint(h, key.secret, receiver.url()));
      const total = 1000;
      const env = { DATABASE_URL: scratch.url, MAILERDASH_SECRET: SERVER_SECRET, CONCURRENCY: String(CONCURRENCY) };

      children.push(...(await Promise.all([startWorker(env), startWorker(env)])));
      // Written while both workers run: they deliver concurrently with the writes.
      const ids = await writeEvents(h, key.id, total, 100);
      await within(Promise.all(receivers.map((r) => r.waitFor(total))), 120_000, 'every event at both receivers');
      await Promise.all(children.map(stop));

      for (const [i, receiver] of receivers.entries()) {
        const hooks = receiver.received;
        const distinct = new Set(hooks.map(idOf));
        assert.equal(hooks.length, total, `receiver ${i}: ${hooks.length} requests for ${total} events`);
        assert.equal(distinct.size, total, `receiver ${i}: ${total - distinct.size} duplicates`);
        assert.deepEqual([...distinct].sort(), [...ids].sort());
        for (let n = 0; n < hooks.length; n += 47) {
          const event = verify(endpoints[i]!.secret, hooks[n]!);
          assert.equal(typeof event.data.n, 'number');
        }
        // Another endpoint's secret does not verify it.
        assert.throws(() => verify(endpoints[1 - i]!.secret, hooks[0]!));
      }
      assert.deepEqual(await deliveryStatuses(h), { delivered: 2 * total });
      const attempts = await h.database.db.selectFrom('webhook_deliveries').select('attempts').where('attempts', '!=', 1).execute();
      assert.equal(attempts.length, 0, 'one attempt per delivery');
      t.diagnostic(`${2 * total} deliveries by two workers, none repeated; ${Date.now() - started} ms`);
    } finally {
      for (const child of children) await kill(child);
      for (const receiver of receivers) await receiver.close();
      await h?.close();
      await scratch.drop();
    }
  });
});
