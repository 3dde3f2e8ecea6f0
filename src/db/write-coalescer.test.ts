import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { describeEachEngine } from '../../test/support/engines.ts';
import type { Database } from './database.ts';
import { createWriteCoalescer } from './write-coalescer.ts';

describeEachEngine('write coalescer', (engine) => {
  let database: Database;
  let db: Kysely<any>;

  before(async () => {
    database = await engine.open();
    db = database.db as unknown as Kysely<any>;
    await sql`create table coalesced (id integer primary key, note text not null)`.execute(db);
  });
  after(() => database.close());

  it('commits the writes of one tick in one transaction, and a bad item fails alone', async () => {
    const transactions: number[][] = [];
    const committed: number[][] = [];
    const coalescer = createWriteCoalescer<any, { id: number; note: string | null }>({
      db,
      async write(trx, items) {
        transactions.push(items.map((i) => i.id));
        await trx.insertInto('coalesced').values(items).execute();
      },
      afterCommit: (items) => committed.push(items.map((i) => i.id)),
    });
    const results = await Promise.allSettled([1, 2, 3, 4].map((id) => coalescer.submit({ id, note: id === 3 ? null : `n${id}` })));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.equal(transactions[0]!.length, 4, 'the first attempt held all four writes');
    const rows = await db.selectFrom('coalesced').select('id').orderBy('id').execute();
    assert.deepEqual(rows.map((r) => r.id), [1, 2, 4]);
    assert.deepEqual(committed.flat().sort(), [1, 2, 4]);
    await coalescer.idle();
  });

  it('groups many concurrent submissions into few transactions', async () => {
    let groups = 0;
    const coalescer = createWriteCoalescer<any, { id: number; note: string }>({
      db,
      maxBatch: 50,
      async write(trx, items) {
        groups++;
        await trx.insertInto('coalesced').values(items).execute();
      },
    });
    await Promise.all(Array.from({ length: 200 }, (_, i) => coalescer.submit({ id: 1000 + i, note: 'x' })));
    const { n } = await db.selectFrom('coalesced').select((eb) => eb.fn.countAll<number>().as('n')).where('id', '>=', 1000).executeTakeFirstOrThrow();
    assert.equal(Number(n), 200);
    assert.ok(groups >= 4 && groups < 200, `200 writes in ${groups} transactions`);
  });
});
