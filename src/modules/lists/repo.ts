import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { CONTACT_COLUMNS, type ContactRow } from '../contacts/repo.ts';
import type { ContactStatus } from '../contacts/tables.ts';

export interface ListRow {
  id: string;
  key_id: string;
  name: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = ['id', 'key_id', 'name', 'description', 'created_at', 'updated_at'] as const;

export async function insertList(db: Kysely<DB>, row: Pick<ListRow, 'id' | 'key_id' | 'name' | 'description'>): Promise<ListRow> {
  return (await db.insertInto('lists').values(row).returning(COLUMNS).executeTakeFirstOrThrow()) as ListRow;
}

/** The key's list; another key's is simply not found. */
export async function findList(db: Kysely<DB>, keyId: string, id: string): Promise<ListRow | undefined> {
  return (await db.selectFrom('lists').select(COLUMNS).where('key_id', '=', keyId).where('id', '=', id).executeTakeFirst()) as ListRow | undefined;
}

export async function listLists(db: Kysely<DB>, filter: { keyId: string | null; limit: number; offset: number }): Promise<{ rows: ListRow[]; total: number }> {
  let query = db.selectFrom('lists');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  const [rows, count] = await Promise.all([
    query.select(COLUMNS).orderBy('created_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as ListRow[], total: Number(count.n) };
}

export async function updateList(db: Kysely<DB>, keyId: string, id: string, fields: Partial<Pick<ListRow, 'name' | 'description'>>): Promise<ListRow | undefined> {
  return (await db
    .updateTable('lists')
    .set({ ...fields, updated_at: sql`now()` })
    .where('key_id', '=', keyId)
    .where('id', '=', id)
    .returning(COLUMNS)
    .executeTakeFirst()) as ListRow | undefined;
}

/** Deletes the list and its memberships (by cascade), never the contacts. */
export async function deleteList(db: Kysely<DB>, keyId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('lists').where('key_id', '=', keyId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Member counts per list and status. */
export async function memberCounts(db: Kysely<DB>, listIds: string[]): Promise<{ list_id: string; status: ContactStatus; n: number }[]> {
  if (!listIds.length) return [];
  const rows = await db
    .selectFrom('list_members as m')
    .innerJoin('contacts as c', 'c.id', 'm.contact_id')
    .select(['m.list_id', 'c.status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('m.list_id', 'in', listIds)
    .groupBy(['m.list_id', 'c.status'])
    .execute();
  return rows.map((r) => ({ list_id: r.list_id, status: r.status, n: Number(r.n) }));
}

/** Adds memberships; answers the contact ids that were not members yet. */
export async function addMembers(db: Kysely<DB>, listId: string, contactIds: number[]): Promise<number[]> {
  if (!contactIds.length) return [];
  const rows = await db
    .insertInto('list_members')
    .values(contactIds.map((contact_id) => ({ list_id: listId, contact_id })))
    .onConflict((oc) => oc.columns(['list_id', 'contact_id']).doNothing())
    .returning('contact_id')
    .execute();
  return rows.map((r) => Number(r.contact_id));
}

export async function removeMember(db: Kysely<DB>, listId: string, contactId: number): Promise<boolean> {
  const result = await db.deleteFrom('list_members').where('list_id', '=', listId).where('contact_id', '=', contactId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function listMembers(
  db: Kysely<DB>,
  filter: { listId: string; status?: ContactStatus | undefined; limit: number; offset: number },
): Promise<{ rows: ContactRow[]; total: number }> {
  let query = db.selectFrom('list_members as m').innerJoin('contacts', 'contacts.id', 'm.contact_id').where('m.list_id', '=', filter.listId);
  if (filter.status) query = query.where('contacts.status', '=', filter.status);
  const [rows, count] = await Promise.all([
    query.select(CONTACT_COLUMNS.map((c) => `contacts.${c}` as const)).orderBy('contacts.id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as ContactRow[], total: Number(count.n) };
}

export interface ListMember {
  id: number;
  email: string;
  name: string | null;
  metadata: Record<string, unknown>;
  status: ContactStatus;
}

/**
 * The next chunk of a list's members in contact id order, after `afterContactId` (0 to start):
 * the campaign dispatcher walks a list with this, keeping the last id as its durable cursor.
 * Every status is returned; the caller skips or counts the suppressed ones.
 */
export async function listMembersAfter(db: Kysely<DB>, listId: string, afterContactId: number, limit: number): Promise<ListMember[]> {
  const rows = await db
    .selectFrom('list_members as m')
    .innerJoin('contacts as c', 'c.id', 'm.contact_id')
    .select(['c.id', 'c.email', 'c.name', 'c.metadata', 'c.status'])
    .where('m.list_id', '=', listId)
    .where('m.contact_id', '>', afterContactId)
    .orderBy('m.contact_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ...r, id: Number(r.id) })) as ListMember[];
}
