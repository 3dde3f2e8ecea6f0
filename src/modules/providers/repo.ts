import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { ProvidersTable } from './tables.ts';

export type ProviderRow = Selectable<ProvidersTable>;

export function findProvider(db: Kysely<DB>, keyId: string, id: string): Promise<ProviderRow | undefined> {
  return db.selectFrom('providers').selectAll().where('key_id', '=', keyId).where('id', '=', id).executeTakeFirst();
}

export function findProviderByName(db: Kysely<DB>, keyId: string, name: string): Promise<ProviderRow | undefined> {
  return db.selectFrom('providers').selectAll().where('key_id', '=', keyId).where('name', '=', name).executeTakeFirst();
}

export async function providerNamesOf(db: Kysely<DB>, keyId: string): Promise<string[]> {
  return (await db.selectFrom('providers').select('name').where('key_id', '=', keyId).orderBy('name').execute()).map((r) => r.name);
}

/** Any key's provider: the event routes know a provider by the id in their URL alone. */
export function findProviderById(db: Kysely<DB>, id: string): Promise<ProviderRow | undefined> {
  return db.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listProviders(db: Kysely<DB>, filter: { keyId: string | null; limit: number; offset: number }): Promise<{ rows: ProviderRow[]; total: number }> {
  let query = db.selectFrom('providers');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  const [rows, count] = await Promise.all([
    query.selectAll().orderBy('created_at').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** Null when the key already has a provider of that name. */
export function insertProvider(db: Kysely<DB>, row: { id: string; key_id: string; name: string; type: ProvidersTable['type']; settings: Record<string, unknown>; secrets_sealed: string }): Promise<ProviderRow | undefined> {
  return db
    .insertInto('providers')
    .values({ ...row, settings: JSON.stringify(row.settings) })
    .onConflict((oc) => oc.columns(['key_id', 'name']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function updateProvider(db: Kysely<DB>, id: string, changes: { name: string; settings: Record<string, unknown>; secrets_sealed: string }, now: Date): Promise<ProviderRow | 'name_taken'> {
  const clash = await db.selectFrom('providers').select('id').where('id', '!=', id).where('name', '=', changes.name).where('key_id', '=', sql<string>`(select key_id from providers where id = ${id})`).executeTakeFirst();
  if (clash) return 'name_taken';
  return db.updateTable('providers').set({ ...changes, settings: JSON.stringify(changes.settings), updated_at: now }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteProvider(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom('provider_event_receipts').where('provider_id', '=', id).execute();
  await db.deleteFrom('providers').where('id', '=', id).execute();
}

/**
 * Records a post's token the first time it is seen; false when it was seen already (a replay).
 * Tokens older than the replay window are dropped on the way, as a post that old is refused anyway.
 */
export async function recordEventToken(db: Kysely<DB>, providerId: string, token: string, now: Date, windowMs: number): Promise<boolean> {
  await db.deleteFrom('provider_event_receipts').where('provider_id', '=', providerId).where('received_at', '<', new Date(now.getTime() - 2 * windowMs)).execute();
  const inserted = await db
    .insertInto('provider_event_receipts')
    .values({ provider_id: providerId, token, received_at: now })
    .onConflict((oc) => oc.columns(['provider_id', 'token']).doNothing())
    .returning('token')
    .executeTakeFirst();
  return inserted !== undefined;
}
