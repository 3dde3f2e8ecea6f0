import { sql, type Kysely } from 'kysely';

/** When a message was first tried: the retry schedule gives up 24 h after it (send_at may be far after created_at). */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table messages add column first_attempt_at timestamptz`.execute(db);
}
