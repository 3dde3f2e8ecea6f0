import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

export interface TemplateRow {
  id: string;
  key_id: string;
  name: string;
  subject: string;
  html: string | null;
  body_text: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = ['id', 'key_id', 'name', 'subject', 'html', 'body_text', 'created_at', 'updated_at'] as const;

export async function insertTemplate(db: Kysely<DB>, row: Pick<TemplateRow, 'id' | 'key_id' | 'name' | 'subject' | 'html' | 'body_text'>): Promise<TemplateRow> {
  return (await db.insertInto('templates').values(row).returning(COLUMNS).executeTakeFirstOrThrow()) as TemplateRow;
}

/** The key's template; another key's is simply not found. */
export async function findTemplate(db: Kysely<DB>, keyId: string, id: string): Promise<TemplateRow | undefined> {
  return (await db.selectFrom('templates').select(COLUMNS).where('key_id', '=', keyId).where('id', '=', id).executeTakeFirst()) as TemplateRow | undefined;
}

export async function listTemplates(db: Kysely<DB>, filter: { keyId: string | null; limit: number; offset: number }): Promise<{ rows: TemplateRow[]; total: number }> {
  let query = db.selectFrom('templates');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  const [rows, count] = await Promise.all([
    query.select(COLUMNS).orderBy('created_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as TemplateRow[], total: Number(count.n) };
}

export async function updateTemplate(
  db: Kysely<DB>,
  keyId: string,
  id: string,
  fields: Partial<Pick<TemplateRow, 'name' | 'subject' | 'html' | 'body_text'>>,
): Promise<TemplateRow | undefined> {
  return (await db
    .updateTable('templates')
    .set({ ...fields, updated_at: sql`now()` })
    .where('key_id', '=', keyId)
    .where('id', '=', id)
    .returning(COLUMNS)
    .executeTakeFirst()) as TemplateRow | undefined;
}

export async function deleteTemplate(db: Kysely<DB>, keyId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('templates').where('key_id', '=', keyId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
