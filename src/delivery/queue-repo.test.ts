// The plan that recording outcomes keeps as a prepared statement, made while the messages table
// was empty (a new install): it must still probe messages by primary key once the table is large.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { describeEachEngine } from '../../test/support/engines.ts';
import { keptGenericPlan, scansOf } from '../../test/support/plans.ts';
import type { Database } from '../db/database.ts';
import { indexAccessOnly } from '../db/planner.ts';
import { outcomeStatement, recordOutcomes, type Outcome } from './queue-repo.ts';

describeEachEngine('outcome statement plan', (engine) => {
  let database: Database;

  const fill = (db: Kysely<any>, from: number, to: number) =>
    sql`
      insert into messages (id, key_id, content_id, channel, lane, status, to_email, attempts, lease_until)
      select 'msg_plan_' || g, 'key_plan', 'mc_plan', 'bulk', 1, 'sending', 'reader' || g || '@rcpt.test', 1, now() + interval '5 minutes'
      from generate_series(${from}::int, ${to}::int) g`.execute(db);

  before(async () => {
    database = await engine.open();
    await sql`analyze messages`.execute(database.db);
  });
  after(() => database.close());

  const sent = (n: number): Outcome => ({ id: `msg_plan_${n}`, attempts: 1, status: 'sent', dueAt: null, response: '250 ok', sentAt: new Date(), event: null });

  it('probes messages by primary key in its generic plan, made while the table was empty', async () => {
    const statement = outcomeStatement([sent(1), sent(2)], new Date()).compile(database.db);
    const json = String(statement.parameters[0]).replaceAll("'", "''");
    const plan = await database.db.transaction().execute(async (trx) => {
      await indexAccessOnly(trx);
      // The rows as JSON, then the statement's timestamps.
      const literals = statement.parameters.map((_, i) => (i === 0 ? `'${json}'` : 'now()'));
      return keptGenericPlan(trx, statement, literals, () => fill(trx, 1, 5000));
    });
    const reads = scansOf(plan).filter((n) => n['Relation Name'] === 'messages');
    assert.ok(reads.length > 0, 'the plan reads messages');
    for (const read of reads) assert.deepEqual([read['Node Type'], read['Index Name']], ['Index Scan', 'messages_pkey']);
  });

  it('records an outcome only for the attempt that holds the lease', async () => {
    await fill(database.db, 9001, 9002);
    const updated = await recordOutcomes(database.db, [sent(9001), { ...sent(9002), attempts: 2 }], new Date());
    assert.deepEqual(updated, ['msg_plan_9001']);
    const rows = await database.db.selectFrom('messages').select(['id', 'status', 'lease_until']).where('id', 'in', ['msg_plan_9001', 'msg_plan_9002']).orderBy('id').execute();
    assert.deepEqual(rows.map((r) => [r.id, r.status, r.lease_until === null]), [['msg_plan_9001', 'sent', true], ['msg_plan_9002', 'sending', false]]);
    assert.deepEqual(await recordOutcomes(database.db, [sent(9001)], new Date()), [], 'a second outcome for the same attempt changes nothing');
  });
});
