import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { AcceptedRows } from '../send/repo.ts';

/** Every SQL statement of the submission relay. */

/**
 * Inserts submitted messages: their contents (raw MIME included) and one message row per recipient,
 * many submissions in two multi-row statements. A Message-ID the key already submitted violates
 * message_contents_submitted_id; the caller then answers with the first submission's ids.
 */
export async function insertSubmitted(db: Kysely<DB>, batch: AcceptedRows[]): Promise<void> {
  if (!batch.length) return;
  await db.insertInto('message_contents').values(batch.map((b) => b.content)).execute();
  await db.insertInto('messages').values(batch.flatMap((b) => b.messages)).execute();
}

/** The message ids (and request) of an earlier submission with this Message-ID, or null. */
export async function findSubmitted(db: Kysely<DB>, keyId: string, submittedId: string): Promise<{ requestId: string | null; messageIds: string[] } | null> {
  const rows = await db
    .selectFrom('message_contents as c')
    .innerJoin('messages as m', 'm.content_id', 'c.id')
    .select(['m.id', 'm.request_id'])
    .where('c.key_id', '=', keyId)
    .where('c.submitted_id', '=', submittedId)
    .orderBy('m.id')
    .execute();
  return rows.length ? { requestId: rows[0]!.request_id, messageIds: rows.map((r) => r.id) } : null;
}

export function isSubmittedIdConflict(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string; message?: string };
  return e?.code === '23505' && (e.constraint === 'message_contents_submitted_id' || /message_contents_submitted_id/.test(e.message ?? ''));
}

/**
 * Adds `n` to a fixed-window counter and returns its count in the current window: one statement, so
 * every listener on the database counts the same bucket. A row from an older window starts over.
 */
export async function addToCounter(db: Kysely<DB>, bucket: string, windowStart: Date, n: number): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    insert into submission_counters as c (bucket, window_start, count) values (${bucket}, ${windowStart}, ${n})
    on conflict (bucket) do update set
      count = case when c.window_start = excluded.window_start then c.count + excluded.count else excluded.count end,
      window_start = excluded.window_start
    returning count`.execute(db);
  return rows[0]!.count;
}

/** The counter's count in the current window (0 when it has none). */
export async function readCounter(db: Kysely<DB>, bucket: string, windowStart: Date): Promise<number> {
  const row = await db.selectFrom('submission_counters').select('count').where('bucket', '=', bucket).where('window_start', '=', windowStart).executeTakeFirst();
  return row?.count ?? 0;
}

/** Forgets counters whose window ended before `before` (failed-login buckets of addresses long gone). */
export async function pruneCounters(db: Kysely<DB>, before: Date): Promise<void> {
  await db.deleteFrom('submission_counters').where('window_start', '<', before).execute();
}

/** Of these keys, those not revoked: asked of the database each time, so a revocation counts at once. */
export async function activeKeys(db: Kysely<DB>, keyIds: string[]): Promise<Set<string>> {
  const rows = await db.selectFrom('api_keys').select('id').where('id', 'in', keyIds).where('revoked_at', 'is', null).execute();
  return new Set(rows.map((r) => r.id));
}
