import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { createErasedAddressHasher, erasedHashOf } from './erased.ts';
import { findSuppressions } from './repo.ts';

describeEachEngine('erased address hashes', (engine) => {
  let database: Database;
  const hasher = createErasedAddressHasher(async () => 'server-secret');
  before(async () => {
    database = await engine.open();
    await database.db.insertInto('api_keys').values([{ id: 'key_a', name: 'a', secret_hash: 'a' }, { id: 'key_b', name: 'b', secret_hash: 'b' }]).execute();
  });
  after(() => database.close());

  it('is HMAC-SHA256 of the lower-cased address under a salt of its own per key, the same in SQL as in node', async () => {
    const salt = createHmac('sha256', 'server-secret').update('mailerdash erased-suppression salt v1\0key_a').digest();
    const expected = createHmac('sha256', salt).update('ana.b+x@example.com').digest('hex');
    assert.equal(await hasher.hash('key_a', 'Ana.B+x@Example.com'), expected);
    assert.notEqual(await hasher.hash('key_b', 'ana.b+x@example.com'), expected);
    const keys = await hasher.keysFor('key_a');
    const { rows } = await sql<{ h: string }>`select ${erasedHashOf(keys, sql`${'ANA.b+x@example.COM'}::text`)} as h`.execute(database.db);
    assert.equal(rows[0]!.h, expected);
  });

  it('findSuppressions answers an erased entry under the address asked for, for its own key only', async () => {
    const db = database.db;
    await db.insertInto('erased_suppressions').values({ key_id: 'key_a', email_hash: await hasher.hash('key_a', 'gone@example.com'), reason: 'complaint', erased_at: new Date() }).execute();
    await db.insertInto('suppressions').values({ key_id: 'key_a', email: 'plain@example.com', reason: 'bounce', source_type: 'api' }).execute();
    const found = await findSuppressions(db, 'key_a', ['Gone@example.com', 'plain@example.com', 'kept@example.com'], await hasher.keysFor('key_a'));
    assert.deepEqual(found.map((r) => [r.email, r.reason, r.source_type]).sort(), [['gone@example.com', 'complaint', 'erasure'], ['plain@example.com', 'bounce', 'api']]);
    assert.deepEqual(await findSuppressions(db, 'key_b', ['gone@example.com'], await hasher.keysFor('key_b')), []);
    // Without the hash keys (a caller that does not know of erasures) only plain entries count.
    assert.deepEqual((await findSuppressions(db, 'key_a', ['gone@example.com'])).length, 0);
  });
});
