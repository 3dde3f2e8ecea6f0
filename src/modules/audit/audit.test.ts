import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { recordAudit } from './repo.ts';

describeEachEngine('audit log', (engine) => {
  let h: Harness;
  before(async () => {
    h = await startHarness(engine);
  });
  after(async () => {
    await h.close();
  });

  it("a key sees only its own entries, newest first; an admin sees every key's, or one key's with key_id", async () => {
    const alice = await h.newKey('alice');
    const bob = await h.newKey('bob');
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 0, 0, s));
    await recordAudit(h.database.db, { keyId: alice.id, action: 'batch.created', objectType: 'batch', objectId: 'batch_a1', summary: { accepted: 3 } }, at(1));
    await recordAudit(h.database.db, { keyId: bob.id, action: 'batch.created', objectType: 'batch', objectId: 'batch_b1', summary: {} }, at(2));
    await recordAudit(h.database.db, { keyId: alice.id, action: 'batch.cancelled', objectType: 'batch', objectId: 'batch_a1', summary: {} }, at(3));
    const list = async (auth: string | undefined, query = '') => (await h.call({ method: 'GET', url: `/v1/audit${query}`, ...(auth ? { auth } : {}) })).json().data as Array<{ key_id: string; action: string; summary: unknown }>;

    const own = await list(alice.secret);
    assert.deepEqual(own.map((e) => e.action), ['batch.cancelled', 'batch.created']);
    assert.ok(own.every((e) => e.key_id === alice.id));
    assert.deepEqual(own[1]!.summary, { accepted: 3 });
    assert.deepEqual((await list(bob.secret)).map((e) => e.key_id), [bob.id]);
    const all = await list(undefined);
    assert.ok(all.filter((e) => e.key_id === alice.id || e.key_id === bob.id).length === 3);
    assert.deepEqual((await list(undefined, `?key_id=${bob.id}`)).map((e) => e.key_id), [bob.id]);
  });
});
