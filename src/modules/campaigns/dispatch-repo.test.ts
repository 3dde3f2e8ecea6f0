// The plan of a dispatch chunk when the list was imported after its statistics were taken (as
// when a campaign goes out right after an import): it must walk only its page of members.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { customPlan, scansOf } from '../../../test/support/plans.ts';
import type { Database } from '../../db/database.ts';
import { indexAccessOnly } from '../../db/planner.ts';
import { createErasedAddressHasher } from '../suppressions/erased.ts';
import { chunkStatement } from './dispatch-repo.ts';
import type { CampaignRow } from './repo.ts';

describeEachEngine('campaign dispatch chunk plan', (engine) => {
  let database: Database;
  const listId = 'plan-list-000001';

  before(async () => {
    database = await engine.open();
    const db = database.db;
    await db.insertInto('api_keys').values({ id: 'key_plan', name: 'plan', secret_hash: 'plan' }).execute();
    await db.insertInto('lists').values({ id: listId, key_id: 'key_plan', name: 'Plan', description: null }).execute();
    await sql`analyze contacts, list_members`.execute(db);
    await sql`insert into contacts (key_id, email, name) select 'key_plan', 'member' || g || '@rcpt.test', 'Member' from generate_series(1, 5000) g`.execute(db);
    await sql`insert into list_members (list_id, contact_id) select ${listId}, id from contacts`.execute(db);
  });
  after(() => database.close());

  it('reads list members and contacts through their indexes only, with statistics of the empty tables', async () => {
    const campaign = { id: 'camp_plan', key_id: 'key_plan', list_id: listId, cursor_contact_id: 2500, content_id: 'mc_plan' } as CampaignRow & { content_id: string };
    // As the dispatcher runs it: with the key's erased-address hash keys.
    const erased = await createErasedAddressHasher(async () => 'secret').keysFor('key_plan');
    const statement = chunkStatement(campaign, 100, new Date(), new Date(Date.now() + 60_000), erased).compile(database.db);
    const plan = await database.db.transaction().execute(async (trx) => {
      await indexAccessOnly(trx);
      return customPlan(trx, statement);
    });
    const scans = scansOf(plan).filter((n) => n['Relation Name'] === 'list_members' || n['Relation Name'] === 'contacts');
    assert.deepEqual([...new Set(scans.map((n) => n['Relation Name']))].sort(), ['contacts', 'list_members']);
    for (const scan of scans) assert.match(scan['Node Type'], /^Index (Only )?Scan$/, `${scan['Relation Name']}: ${scan['Node Type']}`);
  });
});
