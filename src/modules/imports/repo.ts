import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { ImportResult } from '../contacts/import.ts';
import type { ContactImportsTable } from './tables.ts';

/** The SQL of import jobs: the job row, its stored body, and the worker's claim with a lease. */

export type ImportJobRow = Selectable<ContactImportsTable>;

export async function insertReceiving(db: Kysely<DB>, row: { id: string; keyId: string; contentType: string; now: Date }): Promise<void> {
  await db
    .insertInto('contact_imports')
    .values({ id: row.id, key_id: row.keyId, status: 'receiving', content_type: row.contentType, created_at: row.now, updated_at: row.now, due_at: null, lease_owner: null, lease_until: null, started_at: null, finished_at: null })
    .execute();
}

export async function appendChunk(db: Kysely<DB>, chunk: { importId: string; keyId: string; seq: number; data: Uint8Array }): Promise<void> {
  await db.insertInto('contact_import_chunks').values({ import_id: chunk.importId, key_id: chunk.keyId, seq: chunk.seq, data: chunk.data }).execute();
}

/** The body is stored whole: the job becomes due at once. */
export async function markQueued(db: Kysely<DB>, id: string, stored: { bytes: number; rowsTotal: number; now: Date }): Promise<ImportJobRow> {
  return db
    .updateTable('contact_imports')
    .set({ status: 'queued', bytes: stored.bytes, rows_total: stored.rowsTotal, due_at: stored.now, updated_at: stored.now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteImport(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom('contact_imports').where('id', '=', id).execute();
}

/** A job the caller may see (its key's, or any for an admin: keyId null); never one still receiving. */
export async function findImport(db: Kysely<DB>, keyId: string | null, id: string): Promise<ImportJobRow | undefined> {
  let query = db.selectFrom('contact_imports').selectAll().where('id', '=', id).where('status', '<>', 'receiving');
  if (keyId !== null) query = query.where('key_id', '=', keyId);
  return query.executeTakeFirst();
}

/**
 * Takes the oldest due job that no live worker holds: a queued one, or a running one whose worker's
 * lease lapsed (it died). A taken-over job is read again from its first row: nothing was merged yet.
 */
export async function claimDue(db: Kysely<DB>, owner: string, now: Date, leaseMs: number): Promise<ImportJobRow | undefined> {
  const { rows } = await sql<ImportJobRow>`
    update contact_imports
    set status = 'running', lease_owner = ${owner}, lease_until = ${new Date(now.getTime() + leaseMs)}, attempts = attempts + 1,
        started_at = coalesce(started_at, ${now}), rows_read = 0, failed = 0, updated_at = ${now}
    where id = (
      select id from contact_imports
      where status in ('queued', 'running') and due_at <= ${now} and (lease_until is null or lease_until < ${now})
      order by due_at
      limit 1
      for update skip locked)
    returning *`.execute(db);
  return rows[0];
}

/** Extends the lease (and records the counts so far, when given); false once another worker has the job. */
export async function renewLease(db: Kysely<DB>, id: string, owner: string, now: Date, leaseMs: number, counts?: { read: number; failed: number }): Promise<boolean> {
  let query = db.updateTable('contact_imports').set({ lease_until: new Date(now.getTime() + leaseMs), updated_at: now });
  if (counts) query = query.set({ rows_read: counts.read, failed: counts.failed });
  const result = await query.where('id', '=', id).where('lease_owner', '=', owner).where('status', '=', 'running').executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function readChunk(db: Kysely<DB>, importId: string, seq: number): Promise<Uint8Array | undefined> {
  return (await db.selectFrom('contact_import_chunks').select('data').where('import_id', '=', importId).where('seq', '=', seq).executeTakeFirst())?.data;
}

export type ImportEnd =
  | { status: 'completed'; rowsRead: number; result: ImportResult }
  | { status: 'failed'; error: { code: string; message: string } };

/** Ends this owner's job with its result or its error, and drops the stored body in the same transaction. */
export async function finish(db: Kysely<DB>, id: string, owner: string, end: ImportEnd, now: Date): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const common = { status: end.status, lease_owner: null, lease_until: null, due_at: null, finished_at: now, updated_at: now };
    const set =
      end.status === 'completed'
        ? { ...common, rows_read: end.rowsRead, created: end.result.created, updated: end.result.updated, failed: end.result.failed, result: JSON.stringify(end.result), error: null }
        : { ...common, error: JSON.stringify(end.error) };
    const updated = await trx.updateTable('contact_imports').set(set).where('id', '=', id).where('lease_owner', '=', owner).executeTakeFirst();
    if (!Number(updated.numUpdatedRows)) return false;
    await trx.deleteFrom('contact_import_chunks').where('import_id', '=', id).execute();
    return true;
  });
}

/** A round that failed for a passing reason (the database went away): due again later, from its first row. */
export async function retryLater(db: Kysely<DB>, id: string, owner: string, dueAt: Date, now: Date): Promise<void> {
  await db
    .updateTable('contact_imports')
    .set({ status: 'queued', lease_owner: null, lease_until: null, due_at: dueAt, updated_at: now })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

/** Bodies whose upload never finished (the receiving process died mid-request). */
export async function discardAbandoned(db: Kysely<DB>, before: Date): Promise<number> {
  const result = await db.deleteFrom('contact_imports').where('status', '=', 'receiving').where('created_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
