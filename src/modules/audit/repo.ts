import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

export interface AuditEntry {
  keyId: string;
  action: string;
  objectType: string;
  objectId: string;
  summary: Record<string, unknown>;
}

/** Records an entry; pass the transaction of the change, so the entry commits with it or not at all. */
export async function recordAudit(db: Kysely<DB>, entry: AuditEntry, at: Date): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({ key_id: entry.keyId, action: entry.action, object_type: entry.objectType, object_id: entry.objectId, summary: JSON.stringify(entry.summary), at })
    .execute();
}

/** Newest first; scope null: every key (an admin). */
export async function listAudit(db: Kysely<DB>, scope: string | null, page: { limit: number; offset: number }) {
  let q = db.selectFrom('audit_log');
  if (scope !== null) q = q.where('key_id', '=', scope);
  const [rows, total] = await Promise.all([
    q.selectAll().orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    data: rows.map((r) => ({
      id: Number(r.id),
      key_id: r.key_id,
      action: r.action,
      object_type: r.object_type,
      object_id: r.object_id,
      summary: typeof r.summary === 'string' ? JSON.parse(r.summary) : r.summary,
      at: new Date(r.at).toISOString(),
    })),
    total: Number(total.n),
    limit: page.limit,
    offset: page.offset,
  };
}

/** Reading the log (the API edge); entries are written by the services that make the changes (recordAudit). */
export function createAuditService(deps: { db: Kysely<DB> }) {
  return { list: (scope: string | null, page: { limit: number; offset: number }) => listAudit(deps.db, scope, page) };
}
export type AuditService = ReturnType<typeof createAuditService>;
