import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { ERASED_ADDRESS } from '../suppressions/erased.ts';

/** A column that may hold an address inside free text or a document: replaced in place, row kept. */
interface Column {
  name: string;
  kind: 'text' | 'jsonb' | 'bytea';
}

/**
 * Every place an address can sit inside a kept row (besides the columns that are the address,
 * handled by eraseOwnRows), with the condition that scopes the table to one key. `t` is the table's
 * alias. Checked against src/db/schema.ts: a new table or column that can hold an address goes here.
 */
const TEXT_HOLDERS: { table: string; scope: (keyId: string) => RawBuilder<boolean>; columns: Column[] }[] = [
  {
    table: 'message_contents',
    scope: (k) => sql`t.key_id = ${k}`,
    columns: [
      { name: 'from_email', kind: 'text' },
      { name: 'from_name', kind: 'text' },
      { name: 'reply_to', kind: 'jsonb' },
      { name: 'subject', kind: 'text' },
      { name: 'html', kind: 'text' },
      { name: 'text', kind: 'text' },
      { name: 'headers', kind: 'jsonb' },
      { name: 'attachments', kind: 'jsonb' },
      { name: 'categories', kind: 'jsonb' },
      { name: 'settings', kind: 'jsonb' },
      { name: 'raw_mime', kind: 'bytea' },
      // Not submitted_id: a Message-ID names the sender's host, and it is unique per key (a replacement could collide).
    ],
  },
  // An attachment's name; its bytes are the sender's file (a PDF, an image), not text to rewrite, as its base64 never matched.
  { table: 'message_attachments', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'filename', kind: 'text' }] },
  // Visible To/Cc of the other recipients of one request, and bounce replies.
  { table: 'messages', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'personalization', kind: 'jsonb' }, { name: 'last_response', kind: 'text' }] },
  { table: 'message_events', scope: (k) => sql`t.message_id in (select id from messages where key_id = ${k})`, columns: [{ name: 'data', kind: 'jsonb' }] },
  { table: 'events', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'data', kind: 'jsonb' }] },
  {
    table: 'webhook_deliveries',
    scope: (k) => sql`t.key_id = ${k}`,
    columns: [
      { name: 'last_body', kind: 'text' },
      { name: 'last_error', kind: 'text' },
    ],
  },
  {
    table: 'idempotency_keys',
    scope: (k) => sql`t.key_id = ${k}`,
    columns: [
      { name: 'response_body', kind: 'jsonb' },
      { name: 'response_headers', kind: 'jsonb' },
    ],
  },
  {
    table: 'inbound_reports',
    scope: (k) => sql`t.key_id = ${k}`,
    columns: [
      { name: 'raw', kind: 'bytea' },
      { name: 'mail_from', kind: 'text' },
      { name: 'rcpt_to', kind: 'text' },
      { name: 'result', kind: 'jsonb' },
      { name: 'error', kind: 'text' },
    ],
  },
  {
    table: 'batch_recipients',
    scope: (k) => sql`t.batch_id in (select id from batches where key_id = ${k})`,
    columns: [
      { name: 'variables', kind: 'jsonb' },
      { name: 'rejection', kind: 'text' },
    ],
  },
  { table: 'batch_decisions', scope: (k) => sql`t.batch_id in (select id from batches where key_id = ${k})`, columns: [{ name: 'detail', kind: 'text' }] },
  { table: 'batch_progress', scope: (k) => sql`t.batch_id in (select id from batches where key_id = ${k})`, columns: [{ name: 'data', kind: 'jsonb' }] },
  { table: 'audit_log', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'summary', kind: 'jsonb' }] },
  { table: 'contacts', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'metadata', kind: 'jsonb' }, { name: 'name', kind: 'text' }] },
  { table: 'sequence_subscribers', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'variables', kind: 'jsonb' }] },
  { table: 'suppressions', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'detail', kind: 'text' }] },
  // An import job's report names rejected rows (a duplicate is a valid address); its body waits in chunks.
  {
    table: 'contact_imports',
    scope: (k) => sql`t.key_id = ${k}`,
    columns: [
      { name: 'result', kind: 'jsonb' },
      { name: 'error', kind: 'jsonb' },
    ],
  },
  { table: 'contact_import_chunks', scope: (k) => sql`t.key_id = ${k}`, columns: [{ name: 'data', kind: 'bytea' }] },
];

/** The regular expression of an address, matched case-insensitively (ASCII punctuation escaped). */
export function addressPattern(email: string): string {
  return email.replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

function asText(column: Column): RawBuilder<string> {
  const ref = sql.raw(`t.${column.name}`);
  if (column.kind === 'jsonb') return sql<string>`${ref}::text`;
  if (column.kind === 'bytea') return sql<string>`encode(${ref}, 'escape')`;
  return sql<string>`${ref}`;
}

function replaced(column: Column, pattern: string): RawBuilder<unknown> {
  const swapped = sql`regexp_replace(${asText(column)}, ${pattern}, ${ERASED_ADDRESS}, 'gi')`;
  if (column.kind === 'jsonb') return sql`${swapped}::jsonb`;
  // escape is lossless both ways: every byte that is not printable ASCII stays an octal escape.
  if (column.kind === 'bytea') return sql`decode(${swapped}, 'escape')`;
  return swapped;
}

const holds = (column: Column, email: string) => sql<boolean>`coalesce(position(${email} in lower(${asText(column)})) > 0, false)`;

/** Replaces the address wherever it sits inside the key's kept rows; counts rows per table. */
export async function replaceInText(db: Kysely<DB>, keyId: string | null, email: string, touched: Record<string, number>): Promise<void> {
  const pattern = addressPattern(email);
  for (const holder of TEXT_HOLDERS) {
    // keyId null: the rows of no key (inbound reports never matched to a message).
    if (keyId === null && holder.table !== 'inbound_reports') continue;
    const scope = keyId === null ? sql<boolean>`t.key_id is null` : holder.scope(keyId);
    const sets = holder.columns.map((c) => sql`${sql.raw(c.name)} = case when ${holds(c, email)} then ${replaced(c, pattern)} else t.${sql.raw(c.name)} end`);
    const any = sql.join(
      holder.columns.map((c) => holds(c, email)),
      sql` or `,
    );
    const result = await sql`update ${sql.raw(holder.table)} as t set ${sql.join(sets)} where ${scope} and (${any})`.execute(db);
    count(touched, holder.table, result.numAffectedRows);
  }
}

export function count(touched: Record<string, number>, table: string, n: bigint | number | undefined): void {
  const value = Number(n ?? 0);
  if (value) touched[table] = (touched[table] ?? 0) + value;
}

export interface OwnRows {
  contactIds: number[];
  messageIds: string[];
  suppression: { reason: 'bounce' | 'complaint' | 'unsubscribe' | 'manual' } | undefined;
}

/** The rows that are the address's own: its contact, its messages, its plain suppression entry. */
export async function findOwnRows(db: Kysely<DB>, keyId: string, email: string): Promise<OwnRows> {
  const [contacts, messages, suppression] = await Promise.all([
    db.selectFrom('contacts').select('id').where('key_id', '=', keyId).where(sql<boolean>`lower(email) = ${email}`).execute(),
    db.selectFrom('messages').select('id').where('key_id', '=', keyId).where(sql<boolean>`lower(to_email) = ${email}`).execute(),
    db.selectFrom('suppressions').select('reason').where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst(),
  ]);
  return { contactIds: contacts.map((c) => Number(c.id)), messageIds: messages.map((m) => m.id), suppression };
}

/**
 * Messages of the address still waiting (queued or deferred) are dropped, so nothing more leaves for
 * it; one that a sender holds (sending) finishes its attempt and is never retried (the send job drops
 * the erased placeholder).
 */
export async function dropWaitingMessages(db: Kysely<DB>, keyId: string, email: string, now: Date): Promise<number> {
  const dropped = await db
    .updateTable('messages')
    .set({ status: 'dropped', last_response: 'erased', updated_at: now })
    .where('key_id', '=', keyId)
    .where(sql<boolean>`lower(to_email) = ${email}`)
    .where('status', 'in', ['queued', 'deferred'])
    .returning('id')
    .execute();
  if (dropped.length) {
    await db
      .insertInto('message_events')
      .values(dropped.map((m) => ({ message_id: m.id, type: 'dropped', at: now, data: JSON.stringify({ reason: 'erased' }) })))
      .execute();
  }
  return dropped.length;
}

/**
 * The rows that are the address (its contact and memberships, its soft bounces, its plain
 * suppression entry) are deleted; the rows that statistics and history count on (messages, their
 * events, subscriptions, batch recipients, history lines) are kept with the address replaced and
 * the person's own data (name, variables, tracking details) emptied.
 */
export async function eraseOwnRows(db: Kysely<DB>, keyId: string, email: string, own: OwnRows, touched: Record<string, number>): Promise<void> {
  const lowerIs = (column: string) => sql<boolean>`lower(${sql.ref(column)}) = ${email}`;
  if (own.contactIds.length) {
    count(touched, 'list_members', (await db.deleteFrom('list_members').where('contact_id', 'in', own.contactIds).executeTakeFirst()).numDeletedRows);
    count(touched, 'contacts', (await db.deleteFrom('contacts').where('id', 'in', own.contactIds).executeTakeFirst()).numDeletedRows);
  }
  count(touched, 'soft_bounces', (await db.deleteFrom('soft_bounces').where('key_id', '=', keyId).where(lowerIs('email')).executeTakeFirst()).numDeletedRows);
  count(touched, 'suppressions', (await db.deleteFrom('suppressions').where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst()).numDeletedRows);
  const result = await db
    .updateTable('messages')
    .set({ to_email: ERASED_ADDRESS, to_name: null, personalization: '{}' })
    .where('key_id', '=', keyId)
    .where(lowerIs('to_email'))
    .executeTakeFirst();
  count(touched, 'messages', result.numUpdatedRows);
  if (own.messageIds.length) {
    // Opens and clicks carry the reader's user agent and network address: only type and time stay.
    const events = await db.updateTable('message_events').set({ data: '{}' }).where('message_id', 'in', own.messageIds).where(sql<boolean>`data <> '{}'::jsonb`).executeTakeFirst();
    count(touched, 'message_events', events.numUpdatedRows);
  }
  const subscribers = await db.updateTable('sequence_subscribers').set({ email: ERASED_ADDRESS, variables: '{}' }).where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst();
  count(touched, 'sequence_subscribers', subscribers.numUpdatedRows);
  const recipients = await db
    .updateTable('batch_recipients')
    .set({ email: ERASED_ADDRESS, name: null, variables: null })
    .where(sql<boolean>`batch_id in (select id from batches where key_id = ${keyId})`)
    .where(lowerIs('email'))
    .executeTakeFirst();
  count(touched, 'batch_recipients', recipients.numUpdatedRows);
  const history = await db.updateTable('contact_events').set({ email: ERASED_ADDRESS, contact_id: null }).where('key_id', '=', keyId).where(lowerIs('email')).executeTakeFirst();
  count(touched, 'contact_events', history.numUpdatedRows);
  const log = await db.updateTable('suppression_log').set({ email: ERASED_ADDRESS }).where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst();
  count(touched, 'suppression_log', log.numUpdatedRows);
}

/** Keeps the address suppressed as its hash alone (an existing hashed entry keeps its first reason). */
export async function keepHashedSuppression(db: Kysely<DB>, keyId: string, emailHash: string, reason: OwnRows['suppression'] & {}, now: Date): Promise<number> {
  const result = await db
    .insertInto('erased_suppressions')
    .values({ key_id: keyId, email_hash: emailHash, reason: reason.reason, erased_at: now })
    .onConflict((oc) => oc.columns(['key_id', 'email_hash']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0);
}

/** The keys that hold anything under the address's own columns (an admin's erasure across keys). */
export async function keysHolding(db: Kysely<DB>, email: string): Promise<string[]> {
  const { rows } = await sql<{ key_id: string }>`
    select key_id from contacts where lower(email) = ${email}
    union select key_id from messages where lower(to_email) = ${email}
    union select key_id from suppressions where email = ${email}
    union select key_id from sequence_subscribers where email = ${email}
    union select key_id from soft_bounces where lower(email) = ${email}
    union select key_id from contact_events where lower(email) = ${email}
    union select b.key_id from batch_recipients r join batches b on b.id = r.batch_id where lower(r.email) = ${email}
    order by key_id`.execute(db);
  return rows.map((r) => r.key_id);
}
