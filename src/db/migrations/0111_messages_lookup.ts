import { sql, type Kysely } from 'kysely';

/** The message log is filtered by recipient (case-insensitive) and by the request that queued it. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index messages_key_to on messages (key_id, lower(to_email), created_at desc)`.execute(db);
}
