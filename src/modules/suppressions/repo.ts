import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { SuppressionsTable } from '../messages/tables.ts';
import { erasedHashOf, type HmacKeys } from './erased.ts';

export type SuppressionReason = SuppressionsTable['reason'];

export interface NewSuppression {
  keyId: string;
  email: string;
  reason: SuppressionReason;
  sourceType: string;
  sourceId?: string | null;
  detail?: string | null;
}

export interface SuppressionRow {
  key_id: string;
  email: string;
  reason: SuppressionReason;
  source_type: string;
  source_id: string | null;
  detail: string | null;
  created_at: Date;
}

const COLUMNS = ['key_id', 'email', 'reason', 'source_type', 'source_id', 'detail', 'created_at'] as const;

export interface InsertedSuppression {
  key_id: string;
  email: string;
  reason: SuppressionReason;
  source_type: string;
  source_id: string | null;
}

/**
 * Inserts entries in one statement (an existing entry keeps its first reason and source) and logs
 * the new ones. Only the SQL: what a new entry does to the contact and its sequences is the address
 * path's (src/modules/addresses/standing.ts), which is what callers use.
 */
export async function insertSuppressionRows(db: Kysely<DB>, entries: NewSuppression[]): Promise<InsertedSuppression[]> {
  if (!entries.length) return [];
  const inserted = await db
    .insertInto('suppressions')
    .values(
      entries.map((entry) => ({
        key_id: entry.keyId,
        email: entry.email.toLowerCase(),
        reason: entry.reason,
        source_type: entry.sourceType,
        source_id: entry.sourceId ?? null,
        detail: entry.detail ?? null,
      })),
    )
    .onConflict((oc) => oc.columns(['key_id', 'email']).doNothing())
    .returning(['key_id', 'email', 'reason', 'source_type', 'source_id'])
    .execute();
  if (inserted.length) {
    await db
      .insertInto('suppression_log')
      .values(inserted.map((row) => ({ ...row, action: 'added' as const })))
      .execute();
  }
  return inserted;
}

/**
 * The entries among `emails` on the key's list, with `erased` also those of erased addresses
 * (kept only as hashes; answered with source_type 'erasure'), in one statement: the addresses are
 * hashed by the database, and only when the key has such entries (a one-time filter). A database error propagates:
 * callers never treat it as "not suppressed".
 */
export async function findSuppressions(db: Kysely<DB>, keyId: string, emails: string[], erased?: HmacKeys) {
  if (!emails.length) return [];
  // One array parameter: a batch of 2,000 addresses is one short statement, not 2,000 placeholders.
  const lowered = emails.map((e) => e.toLowerCase());
  if (!erased) {
    return db
      .selectFrom('suppressions')
      .select(['email', 'reason', 'source_type', 'source_id', 'created_at'])
      .where('key_id', '=', keyId)
      .where(sql<boolean>`email = any(${lowered}::text[])`)
      .execute();
  }
  const { rows } = await sql<{ email: string; reason: SuppressionReason; source_type: string; source_id: string | null; created_at: Date }>`
    with hashed as materialized (
      -- Hashed only when the key has erased entries at all (a one-time filter), each address once.
      select u as email, ${erasedHashOf(erased, sql`u`)} as email_hash from unnest(${lowered}::text[]) as u
      where exists (select 1 from erased_suppressions where key_id = ${keyId})
    )
    select email, reason, source_type, source_id, created_at from suppressions where key_id = ${keyId} and email = any(${lowered}::text[])
    union all
    select x.email, e.reason, 'erasure', null, e.erased_at
    from hashed x
    -- Probed by key (= any), never scanned: a key may have erased many addresses.
    join erased_suppressions e on e.key_id = ${keyId} and e.email_hash = x.email_hash and e.email_hash = any (array(select email_hash from hashed))`.execute(db);
  return rows;
}

export function getSuppression(db: Kysely<DB>, keyId: string, email: string): Promise<SuppressionRow | undefined> {
  return db.selectFrom('suppressions').select(COLUMNS).where('key_id', '=', keyId).where('email', '=', email.toLowerCase()).executeTakeFirst() as Promise<
    SuppressionRow | undefined
  >;
}

export function getErasedSuppression(db: Kysely<DB>, keyId: string, emailHash: string) {
  return db.selectFrom('erased_suppressions').select(['reason', 'erased_at']).where('key_id', '=', keyId).where('email_hash', '=', emailHash).executeTakeFirst();
}

export async function deleteErasedSuppression(db: Kysely<DB>, keyId: string, emailHash: string): Promise<boolean> {
  const result = await db.deleteFrom('erased_suppressions').where('key_id', '=', keyId).where('email_hash', '=', emailHash).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function listSuppressions(
  db: Kysely<DB>,
  filter: { keyId: string | null; reason?: SuppressionReason; q?: string; limit: number; offset: number },
): Promise<{ rows: SuppressionRow[]; total: number }> {
  let query = db.selectFrom('suppressions');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  if (filter.reason) query = query.where('reason', '=', filter.reason);
  if (filter.q) {
    const pattern = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where('email', 'like', pattern);
  }
  const [rows, count] = await Promise.all([
    query.select(COLUMNS).orderBy('created_at', 'desc').orderBy('email').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as SuppressionRow[], total: Number(count.n) };
}

/** Removes an entry and records who took it off; returns the removed entry. */
export async function deleteSuppression(
  db: Kysely<DB>,
  keyId: string,
  email: string,
  by: { sourceType: string; sourceId: string | null },
): Promise<SuppressionRow | undefined> {
  const removed = (await db
    .deleteFrom('suppressions')
    .where('key_id', '=', keyId)
    .where('email', '=', email.toLowerCase())
    .returning(COLUMNS)
    .executeTakeFirst()) as SuppressionRow | undefined;
  if (removed) {
    await db
      .insertInto('suppression_log')
      .values({ key_id: keyId, email: removed.email, action: 'removed', reason: removed.reason, source_type: by.sourceType, source_id: by.sourceId })
      .execute();
  }
  return removed;
}

export function suppressionHistory(db: Kysely<DB>, keyId: string, email: string) {
  return db
    .selectFrom('suppression_log')
    .select(['action', 'reason', 'source_type', 'source_id', 'at'])
    .where('key_id', '=', keyId)
    .where('email', '=', email.toLowerCase())
    .orderBy('id')
    .execute();
}
