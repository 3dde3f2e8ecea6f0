import { sql, type Kysely } from 'kysely';

/**
 * A message has a lease exactly while it is being sent. Recording an outcome relies on it (it tests
 * the lease, which the planner cannot answer from the partial messages_lease index), so the
 * database holds every later write to it. Rows written before are not checked: NOT VALID spares
 * a scan of the whole table at upgrade.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table messages add constraint messages_lease_while_sending
    check ((status = 'sending') = (lease_until is not null)) not valid`.execute(db);
}
