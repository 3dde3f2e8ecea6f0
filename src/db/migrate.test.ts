import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sql } from 'kysely';
import { describeEachEngine } from '../../test/support/engines.ts';
import { migrateToLatest, sameNames } from './migrate.ts';

describeEachEngine('migrations', (engine) => {
  it('apply once, then report nothing to do, and leave the tables in place', async () => {
    const database = await engine.open(); // open() has already migrated
    try {
      assert.deepEqual(await migrateToLatest(database.db), { applied: [] });
      const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = 'public'`.execute(database.db);
      const names = tables.rows.map((r) => r.table_name);
      for (const table of ['api_keys', 'domains', 'settings']) assert.ok(names.includes(table), `${table} exists`);
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(database.db);
      assert.equal(applied.rows[0]?.name, '0001_foundation');
    } finally {
      await database.close();
    }
  });

  it('still refuse a database that applied a migration no file has (the quick up-to-date check does not hide it)', async () => {
    const database = await engine.open();
    try {
      await sql`insert into kysely_migration (name, timestamp) values ('9999_from_a_newer_build', ${new Date().toISOString()})`.execute(database.db);
      await assert.rejects(migrateToLatest(database.db), /9999_from_a_newer_build/);
    } finally {
      await database.close();
    }
  });

  it('keep a lease on a message exactly while it is being sent', async () => {
    const database = await engine.open();
    try {
      const insert = (id: string, status: string, lease: Date | null) =>
        database.db.insertInto('messages').values({ id, key_id: 'key_x', content_id: 'mc_x', channel: 'bulk', lane: 1, status: status as 'sent', to_email: 'a@rcpt.test', lease_until: lease }).execute();
      await assert.rejects(insert('msg_sending_no_lease', 'sending', null), /messages_lease_while_sending/);
      await assert.rejects(insert('msg_sent_with_lease', 'sent', new Date()), /messages_lease_while_sending/);
      await insert('msg_sending', 'sending', new Date());
      await insert('msg_queued', 'queued', null);
    } finally {
      await database.close();
    }
  });
});

it('sameNames: the same names once each, in any order', () => {
  assert.equal(sameNames(['0001_a', '0100_b'], ['0100_b', '0001_a']), true);
  assert.equal(sameNames(['0001_a', '0100_b'], ['0001_a']), false);
  assert.equal(sameNames(['0001_a'], ['0001_a', '0100_b']), false);
  assert.equal(sameNames(['0001_a', '0100_b'], ['0001_a', '0001_a']), false);
});
