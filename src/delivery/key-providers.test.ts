import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCoalescing } from './batching.ts';
import { withKeyProviders } from './key-providers.ts';
import { providerSetOf } from './providers.ts';
import type { Transport } from './transport.ts';

const outbox: Transport = { name: 'outbox', send: async () => ({ outcome: 'accepted', reply: 'ok', stage: 'data' }), close: async () => {} };
const postmark = (token: string) => ({ type: 'postmark' as const, server_token: token, base_url: 'http://127.0.0.1:9' });

describe('the operator\'s providers plus each key\'s own', () => {
  it('an operator name is the operator\'s; another is the key\'s own once prepared, looked up again after the TTL', async () => {
    let clock = 0;
    const stored = new Map([['key_a/my-pm', { config: postmark('t1'), version: 'v1' }]]);
    let lookups = 0;
    const set = withKeyProviders(providerSetOf({ outbox }, 'outbox'), async (keyId, name) => (lookups++, stored.get(`${keyId}/${name}`) ?? null), { ttlMs: 1000, now: () => clock });
    assert.equal(set.get('outbox', 'key_a'), outbox);
    assert.throws(() => set.get('my-pm', 'key_a'), /neither an operator provider nor one of the key's/);
    await set.prepare!('key_a', ['my-pm', 'outbox']);
    await set.prepare!('key_b', ['my-pm']);
    const first = set.get('my-pm', 'key_a');
    assert.deepEqual([first.name, isCoalescing(first)], ['postmark', true]);
    assert.throws(() => set.get('my-pm', 'key_b'), /neither/);
    assert.throws(() => set.get('my-pm'), /is not a configured provider/);

    await set.prepare!('key_a', ['my-pm']);
    assert.equal(lookups, 2, 'within the TTL nothing is looked up again');
    clock = 1500;
    await set.prepare!('key_a', ['my-pm']);
    assert.equal(set.get('my-pm', 'key_a'), first, 'the same version keeps its transport');
    stored.set('key_a/my-pm', { config: postmark('t2'), version: 'v2' });
    clock = 3000;
    await set.prepare!('key_a', ['my-pm']);
    assert.notEqual(set.get('my-pm', 'key_a'), first, 'a changed provider gets a new transport');
    stored.delete('key_a/my-pm');
    clock = 4500;
    await set.prepare!('key_a', ['my-pm']);
    assert.throws(() => set.get('my-pm', 'key_a'), /neither/, 'a deleted provider is gone');
    await set.close();
  });
});
