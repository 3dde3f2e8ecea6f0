import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { ContactStatus } from './tables.ts';

export interface ContactRow {
  id: number;
  key_id: string;
  email: string;
  name: string | null;
  metadata: Record<string, unknown>;
  status: ContactStatus;
  created_at: Date;
  updated_at: Date;
}

export const CONTACT_COLUMNS = ['id', 'key_id', 'email', 'name', 'metadata', 'status', 'created_at', 'updated_at'] as const;

export interface ContactFilter {
  /** null: every key (admin). */
  keyId: string | null;
  status?: ContactStatus | undefined;
  /** Substring of the email or the name, case-insensitive. */
  q?: string | undefined;
}

function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function filtered(db: Kysely<DB>, filter: ContactFilter) {
  let query = db.selectFrom('contacts');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.q) {
    const pattern = likePattern(filter.q);
    query = query.where((eb) => eb.or([eb('email', 'ilike', pattern), eb('name', 'ilike', pattern)]));
  }
  return query;
}

export async function listContacts(db: Kysely<DB>, filter: ContactFilter & { limit: number; offset: number }): Promise<{ rows: ContactRow[]; total: number }> {
  const query = filtered(db, filter);
  const [rows, count] = await Promise.all([
    query.select(CONTACT_COLUMNS).orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as ContactRow[], total: Number(count.n) };
}

export interface CsvContactRow {
  id: number;
  email: string;
  name: string | null;
  status: string;
  /** JSON text, as stored. */
  metadata: string;
  key_id: string;
  /** ISO 8601 UTC, formatted by the database (parsing and re-formatting a million dates costs seconds). */
  created_at: string;
  updated_at: string;
}

const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** The next page of a CSV export, by id (keyset: constant cost per page however deep), as text. */
export async function csvContactsAfter(db: Kysely<DB>, filter: ContactFilter, afterId: number, limit: number): Promise<CsvContactRow[]> {
  return (await filtered(db, filter)
    .select([
      'id',
      'email',
      'name',
      'status',
      sql<string>`metadata::text`.as('metadata'),
      'key_id',
      sql<string>`to_char(created_at at time zone 'UTC', ${sql.raw(ISO_UTC)})`.as('created_at'),
      sql<string>`to_char(updated_at at time zone 'UTC', ${sql.raw(ISO_UTC)})`.as('updated_at'),
    ])
    .where('id', '>', afterId)
    // With one key, (key_id, id) is the index's own order: a plain index range scan, never a sort.
    .$if(filter.keyId !== null, (q) => q.orderBy('key_id'))
    .orderBy('id')
    .limit(limit)
    .execute()) as CsvContactRow[];
}

/** The next page of contacts by id (keyset). */
export async function contactsAfter(db: Kysely<DB>, filter: ContactFilter, afterId: number, limit: number): Promise<ContactRow[]> {
  return (await filtered(db, filter).select(CONTACT_COLUMNS).where('id', '>', afterId).orderBy('id').limit(limit).execute()) as ContactRow[];
}

export async function findContact(db: Kysely<DB>, keyId: string, email: string): Promise<ContactRow | undefined> {
  return (await db
    .selectFrom('contacts')
    .select(CONTACT_COLUMNS)
    .where('key_id', '=', keyId)
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst()) as ContactRow | undefined;
}

/** The stored contacts among `emails` (compared lower-cased). */
export async function findContactsByEmails(db: Kysely<DB>, keyId: string, emails: string[]): Promise<ContactRow[]> {
  if (!emails.length) return [];
  return (await db
    .selectFrom('contacts')
    .select(CONTACT_COLUMNS)
    .where('key_id', '=', keyId)
    .where(sql<string>`lower(email)`, 'in', emails.map((e) => e.toLowerCase()))
    .execute()) as ContactRow[];
}

export interface UpsertInput {
  email: string;
  name?: string | null | undefined;
  metadata?: Record<string, unknown> | undefined;
}

/**
 * Creates the contact or updates the given fields of the existing one. The status is never touched
 * here: re-importing an unsubscribed address must not make it active again.
 */
export async function upsertContact(db: Kysely<DB>, keyId: string, input: UpsertInput): Promise<{ row: ContactRow; created: boolean }> {
  const row = await db
    .insertInto('contacts')
    .values({ key_id: keyId, email: input.email, name: input.name ?? null, metadata: JSON.stringify(input.metadata ?? {}) })
    .onConflict((oc) =>
      oc.expression(sql`key_id, lower(email)`).doUpdateSet((eb) => ({
        name: input.name === undefined ? eb.ref('contacts.name') : eb.ref('excluded.name'),
        metadata: input.metadata === undefined ? eb.ref('contacts.metadata') : eb.ref('excluded.metadata'),
        updated_at: sql`now()`,
      })),
    )
    .returning([...CONTACT_COLUMNS, sql<boolean>`(xmax = 0)`.as('inserted')])
    .executeTakeFirstOrThrow();
  const { inserted, ...contact } = row as ContactRow & { inserted: boolean };
  return { row: contact, created: inserted };
}

/** Updates name and metadata; `metadata` is merged shallowly and `removeKeys` are dropped from it. */
export async function updateContactFields(
  db: Kysely<DB>,
  id: number,
  patch: { name?: string | null | undefined; metadata?: Record<string, unknown> | undefined; removeKeys?: string[] },
): Promise<ContactRow | undefined> {
  return (await db
    .updateTable('contacts')
    .set((eb) => ({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.metadata !== undefined
        ? { metadata: sql<string>`(${eb.ref('metadata')} || ${JSON.stringify(patch.metadata)}::jsonb) - ${sql.val(patch.removeKeys ?? [])}::text[]` }
        : {}),
      updated_at: sql`now()`,
    }))
    .where('id', '=', id)
    .returning(CONTACT_COLUMNS)
    .executeTakeFirst()) as ContactRow | undefined;
}

export async function setContactStatus(db: Kysely<DB>, id: number, status: ContactStatus): Promise<ContactRow | undefined> {
  return (await db
    .updateTable('contacts')
    .set({ status, updated_at: sql`now()` })
    .where('id', '=', id)
    .returning(CONTACT_COLUMNS)
    .executeTakeFirst()) as ContactRow | undefined;
}

/** Deletes contacts by address (memberships go with them, by cascade); answers the deleted rows. */
export async function deleteContactsByEmails(db: Kysely<DB>, keyId: string, emails: string[]): Promise<{ id: number; email: string }[]> {
  if (!emails.length) return [];
  return db
    .deleteFrom('contacts')
    .where('key_id', '=', keyId)
    .where(sql<string>`lower(email)`, 'in', emails.map((e) => e.toLowerCase()))
    .returning(['id', 'email'])
    .execute();
}

export interface ContactEvent {
  keyId: string;
  contactId: number | null;
  email: string;
  type: 'status_changed' | 'unsuppressed';
  fromStatus?: string | null;
  toStatus?: string | null;
  source: string;
}

export async function recordContactEvent(db: Kysely<DB>, event: ContactEvent): Promise<void> {
  await db
    .insertInto('contact_events')
    .values({
      key_id: event.keyId,
      contact_id: event.contactId,
      email: event.email,
      type: event.type,
      from_status: event.fromStatus ?? null,
      to_status: event.toStatus ?? null,
      source: event.source,
    })
    .execute();
}

export async function contactEvents(db: Kysely<DB>, keyId: string, email: string) {
  return db
    .selectFrom('contact_events')
    .selectAll()
    .where('key_id', '=', keyId)
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .orderBy('id')
    .execute();
}

/** Takes an address off the key's suppression list; true when it was on it. */
export async function removeSuppressionEntry(db: Kysely<DB>, keyId: string, email: string): Promise<boolean> {
  const result = await db.deleteFrom('suppressions').where('key_id', '=', keyId).where('email', '=', email.toLowerCase()).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
