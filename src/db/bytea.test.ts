import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { sql } from 'kysely';
import { describeEachEngine } from '../../test/support/engines.ts';

// Every byte value, NUL and backslash among them, so a parameter sent as text (hex or escape) that was
// built or read wrong shows up as a different digest or length.
const everyByte = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));

describeEachEngine('bytea parameters and results', (engine) => {
  it('stores a Buffer parameter byte for byte and reads it back as a Buffer', async () => {
    const database = await engine.open();
    try {
      const { rows } = await sql<{ size: number; digest: string; back: Uint8Array }>`
        select octet_length(${everyByte}::bytea)::int as size, encode(sha256(${everyByte}::bytea), 'hex') as digest, ${everyByte}::bytea as back`.execute(database.db);
      assert.equal(rows[0]!.size, everyByte.length);
      assert.equal(rows[0]!.digest, createHash('sha256').update(everyByte).digest('hex'));
      assert.ok(Buffer.from(rows[0]!.back).equals(everyByte));
      assert.equal((await sql<{ empty: number }>`select octet_length(${Buffer.alloc(0)}::bytea)::int as empty`.execute(database.db)).rows[0]!.empty, 0);
    } finally {
      await database.close();
    }
  });
});
