import { sql, type Kysely } from 'kysely';

/**
 * Imports insert up to a million contacts in one statement: a foreign-key trigger per row costs
 * about a quarter of that time. key_id always comes from an authenticated key, and keys are revoked,
 * never deleted, so the constraint guards nothing there. Lists and exports walk a key's contacts in
 * id order, hence (key_id, id) rather than (key_id, status, id).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table contacts drop constraint if exists contacts_key_id_fkey`.execute(db);
  await sql`drop index if exists contacts_key_status`.execute(db);
  await sql`create index contacts_key_id on contacts (key_id, id)`.execute(db);
}
