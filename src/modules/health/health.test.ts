import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

describeEachEngine('health and readiness', (engine) => {
  let h: Harness;

  before(async () => {
    h = await startHarness(engine);
  });
  after(() => h.close());

  it('/healthz is up and /readyz ready while the database answers, with no key', async () => {
    const health = await h.call({ method: 'GET', url: '/healthz', auth: null });
    assert.deepEqual([health.statusCode, health.json()], [200, { status: 'ok' }]);
    const ready = await h.call({ method: 'GET', url: '/readyz', auth: null });
    assert.deepEqual([ready.statusCode, ready.json()], [200, { status: 'ready' }]);
  });

  it('/readyz is a 503 once the database is gone, while /healthz stays up', async () => {
    await h.database.close();
    // The harness closes the database again at the end; a second close must not fail the suite.
    h.database.close = async () => {};
    const ready = await h.call({ method: 'GET', url: '/readyz', auth: null });
    assert.deepEqual([ready.statusCode, ready.json()], [503, { status: 'database unreachable' }]);
    assert.equal((await h.call({ method: 'GET', url: '/healthz', auth: null })).statusCode, 200);
  });
});
