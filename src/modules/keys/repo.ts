import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

export interface KeyRow {
  id: string;
  name: string;
  admin: boolean;
  created_at: Date;
  revoked_at: Date | null;
}

const PUBLIC_COLUMNS = ['id', 'name', 'admin', 'created_at', 'revoked_at'] as const;

export function insertKey(db: Kysely<DB>, key: { id: string; name: string; secretHash: string; admin: boolean }): Promise<KeyRow> {
  return db
    .insertInto('api_keys')
    .values({ id: key.id, name: key.name, secret_hash: key.secretHash, admin: key.admin, revoked_at: null })
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirstOrThrow();
}

export function findActiveKeyByHash(db: Kysely<DB>, secretHash: string): Promise<KeyRow | undefined> {
  return db
    .selectFrom('api_keys')
    .select(PUBLIC_COLUMNS)
    .where('secret_hash', '=', secretHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

export function findKeyByHash(db: Kysely<DB>, secretHash: string): Promise<KeyRow | undefined> {
  return db.selectFrom('api_keys').select(PUBLIC_COLUMNS).where('secret_hash', '=', secretHash).executeTakeFirst();
}

export function findKeyById(db: Kysely<DB>, id: string): Promise<KeyRow | undefined> {
  return db.selectFrom('api_keys').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function listKeys(
  db: Kysely<DB>,
  filter: { onlyId: string | null; limit: number; offset: number },
): Promise<{ rows: KeyRow[]; total: number }> {
  let query = db.selectFrom('api_keys');
  if (filter.onlyId) query = query.where('id', '=', filter.onlyId);
  const [rows, count] = await Promise.all([
    query.select(PUBLIC_COLUMNS).orderBy('created_at').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export async function revokeKey(db: Kysely<DB>, id: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function countActiveAdminKeys(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('admin', '=', true)
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
