import { sql, type Kysely } from 'kysely';

/**
 * The suppression entries of erased addresses, kept only as a keyed hash of the address (an HMAC
 * under a per-key salt derived from the server secret), so the person is never mailed again
 * while the database no longer holds the address.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table erased_suppressions (
      key_id text not null references api_keys(id),
      -- hex HMAC-SHA256 of the lower-cased address (src/modules/privacy/address-hash.ts).
      email_hash text not null,
      reason text not null check (reason in ('bounce', 'complaint', 'unsubscribe', 'manual')),
      erased_at timestamptz not null,
      primary key (key_id, email_hash)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table erased_suppressions`.execute(db);
}
