import { sql, type Kysely } from 'kysely';

/**
 * The due index holds only messages that wait for a worker (queued or deferred). Messages being
 * sent are found through messages_lease when their lease lapses; in the due index they were one
 * more entry written per claim and per campaign message (created already claimed), and an entry
 * every claim walked past, since it asks only for queued and deferred ones.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists messages_due`.execute(db);
  await sql`create index messages_due on messages (lane, due_at) where status in ('queued', 'deferred')`.execute(db);
}
