import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { createScratchDatabase } from '../../test/support/scratch-postgres.ts';
import { openDatabase } from './database.ts';
import { PREPARED } from './prepared.ts';

const url = process.env.TEST_DATABASE_URL;

describe('prepared statements [postgres]', { skip: url ? false : 'needs TEST_DATABASE_URL' }, () => {
  it('runs a marked statement as a named prepared statement, parsed once per connection; others as before', async () => {
    const scratch = await createScratchDatabase(url!);
    const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 1 });
    try {
      const { db } = database;
      const double = (n: number) => sql<{ v: number }>`${PREPARED}select ${n}::int * 2 as v`.execute(db);
      assert.deepEqual((await double(2)).rows, [{ v: 4 }]);
      assert.deepEqual((await double(21)).rows, [{ v: 42 }]);
      await sql`select ${1}::int as unmarked`.execute(db);
      const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(db);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      assert.match(rows[0]!.name, /^md_[0-9a-f]{20}$/);
      assert.match(rows[0]!.statement, /\* 2 as v/);
    } finally {
      await database.close();
      await scratch.drop();
    }
  });
});
