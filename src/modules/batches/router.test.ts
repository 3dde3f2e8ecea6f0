import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { ClaimedMessage } from '../../delivery/queue-repo.ts';
import type { SendResult } from '../../delivery/smtp-outcome.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { createBatchRouter } from './router.ts';

const THROTTLED: SendResult = { outcome: 'temporary', reply: '451 4.7.0 slow down', stage: 'rcpt' };

// The router on an injected clock: a failed provider is probed by one message per window, not by a round.
describeEachEngine('batch router: a provider that failed', (engine) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(engine);
  });
  after(async () => {
    await h.close();
  });

  it('is passed over, then probed by one message; a failed probe doubles the window, a passed one brings it back', async () => {
    const key = await h.newKey('router');
    const batchId = 'batch_router_probe_0001';
    const policy = { providers: ['main', 'backup'], strategy: 'failover' };
    await h.database.db.insertInto('batches').values({ id: batchId, key_id: key.id, status: 'sending', channel: 'bulk', policy: JSON.stringify(policy) } as never).execute();
    const router = createBatchRouter({ db: h.database.db, defaultProvider: 'main' });
    let n = 0;
    const round = (size: number) =>
      Array.from({ length: size }, () => ({ id: `msg_router_${n++}`, key_id: key.id, batch_id: batchId, channel: 'bulk', lane: 1, attempts: 1 }) as unknown as ClaimedMessage);
    const t0 = Date.UTC(2026, 11, 2, 10, 0, 0);
    const at = (s: number) => new Date(t0 + s * 1000);
    /** One round at `s`: which provider each message got; `fails` of main fail over. */
    const run = async (s: number, size: number, mainFails: boolean) => {
      const messages = round(size);
      const plan = await router.plan(messages, at(s));
      const to: string[] = [];
      for (const m of messages) {
        const choice = plan.get(m.id)!;
        assert.equal(choice.kind, 'send');
        const provider = (choice as { provider: string }).provider;
        to.push(provider === 'main' && mainFails ? `main>${await router.failover(m, 'main', THROTTLED, at(s))}` : provider);
      }
      await router.flush(at(s));
      return to.reduce<Record<string, number>>((c, p) => ({ ...c, [p]: (c[p] ?? 0) + 1 }), {});
    };

    assert.deepEqual(await run(0, 10, true), { 'main>backup': 10 });
    assert.deepEqual(await run(20, 10, true), { backup: 10 }, 'within the 30 s window');
    assert.deepEqual(await run(31, 10, true), { 'main>backup': 1, backup: 9 }, 'one probe');
    assert.deepEqual(await run(80, 10, true), { backup: 10 }, 'the failed probe doubled the window to 60 s');
    assert.deepEqual(await run(92, 10, false), { main: 1, backup: 9 }, 'a probe that passes');
    assert.deepEqual(await run(93, 10, false), { main: 10 }, 'main is back');

    const decisions = (await h.call({ method: 'GET', url: `/v1/batches/${batchId}/decisions`, auth: key.secret })).json().data as Array<{ provider: string; reason: string; count: number }>;
    assert.deepEqual(
      decisions.map((d) => [d.provider, d.reason, d.count]),
      [
        ['main', 'primary', 10],
        ['backup', 'failover', 20],
        ['main', 'probe', 1],
        ['backup', 'failover', 20],
        ['main', 'probe', 1],
        ['backup', 'failover', 9],
        ['main', 'primary', 10],
      ],
    );
  });
});
