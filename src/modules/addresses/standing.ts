import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { findContact, recordContactEvent, removeSuppressionEntry, setContactStatus, type ContactRow } from '../contacts/repo.ts';
import { suppressionReasonFor } from '../contacts/rules.ts';
import type { ContactStatus } from '../contacts/tables.ts';
import { emitEvent } from '../events/outbox.ts';
import { cancelSubscriptionsOf } from '../sequences/repo.ts';
import type { CancelReason } from '../sequences/tables.ts';
import { insertSuppressionRows, type NewSuppression, type SuppressionReason } from '../suppressions/repo.ts';

/**
 * The one path that owns what we know about an address: its contact status, its suppression entry
 * and its live sequence subscriptions move together, in one transaction (the caller's, or their
 * own). The API, synchronous 5xx replies, DSNs, ARF reports, provider events and unsubscribes all
 * come through here.
 */

/** The contact status a suppression reason implies; a manual entry leaves the contact as it is. */
export const CONTACT_STATUS_OF = { bounce: 'bounced', complaint: 'complained', unsubscribe: 'unsubscribed', manual: null } as const satisfies Record<
  SuppressionReason,
  ContactStatus | null
>;

/** The sequence cancel reason of a new entry: its address leaves every sequence of the key at once. */
const SEQUENCE_REASON_OF_ENTRY = { bounce: 'bounced', complaint: 'complained', unsubscribe: 'unsubscribed', manual: 'suppressed' } as const satisfies Record<
  SuppressionReason,
  CancelReason
>;

const SEQUENCE_REASON_OF_STATUS: Partial<Record<ContactStatus, CancelReason>> = { unsubscribed: 'unsubscribed', bounced: 'bounced', complained: 'complained' };

function inTransaction<T>(db: Kysely<DB>, run: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}

/** Adds an address to a key's suppression list; an existing entry keeps its first reason and source. */
export async function suppressAddress(db: Kysely<DB>, entry: NewSuppression, now = new Date()): Promise<boolean> {
  return (await suppressAddresses(db, [entry], now)) > 0;
}

/**
 * Adds many entries in one statement; returns how many were new. Each new entry cancels the
 * address's live sequence subscriptions and moves its contact to the matching status.
 */
export function suppressAddresses(db: Kysely<DB>, entries: NewSuppression[], now = new Date()): Promise<number> {
  if (!entries.length) return Promise.resolve(0);
  return inTransaction(db, async (trx) => {
    const inserted = await insertSuppressionRows(trx, entries);
    for (const row of inserted) {
      await cancelSubscriptionsOf(trx, row.key_id, row.email, SEQUENCE_REASON_OF_ENTRY[row.reason], now);
      const status = CONTACT_STATUS_OF[row.reason];
      // The entry and the cancelled subscriptions are done: only the contact's status is left to move.
      if (status) await moveContactStatus(trx, row.key_id, row.email, status, { type: row.source_type }, now);
    }
    return inserted.length;
  });
}

/**
 * Sets a contact's status and keeps the suppression list in step: unsubscribed / bounced /
 * complained puts the address on the key's list (source_type 'contact' from the API, or the
 * caller's source); active takes it off, and that removal is recorded in contact_events so it is
 * never silent. Answers the updated contact, or undefined when the key has no contact with that
 * address (the suppression is then the caller's business).
 */
export function markContactStatus(
  db: Kysely<DB>,
  keyId: string,
  email: string,
  status: ContactStatus,
  source: { type: string; id?: string | null } = { type: 'api' },
  now = new Date(),
): Promise<ContactRow | undefined> {
  return inTransaction(db, async (trx) => {
    const moved = await moveContactStatus(trx, keyId, email, status, source, now);
    if (!moved) return undefined;
    const { contact, previous } = moved;
    // The address leaves every sequence of the key with the matching reason (idempotent: none live, none cancelled).
    const leaving = SEQUENCE_REASON_OF_STATUS[status];
    if (leaving) await cancelSubscriptionsOf(trx, keyId, contact.email, leaving, now);
    const reason = suppressionReasonFor(status);
    if (reason) {
      await suppressAddress(
        trx,
        { keyId, email: contact.email, reason, sourceType: source.type === 'api' ? 'contact' : source.type, sourceId: source.id ?? String(contact.id), detail: `contact status ${status}` },
        now,
      );
    } else if (await removeSuppressionEntry(trx, keyId, contact.email)) {
      await recordContactEvent(trx, { keyId, contactId: contact.id, email: contact.email, type: 'unsuppressed', fromStatus: previous, toStatus: status, source: source.type });
    }
    return contact;
  });
}

/** The contact's status alone, with its history line and, for unsubscribed, its event; undefined without a contact. */
async function moveContactStatus(
  trx: Kysely<DB>,
  keyId: string,
  email: string,
  status: ContactStatus,
  source: { type: string },
  now: Date,
): Promise<{ contact: ContactRow; previous: ContactStatus } | undefined> {
  const contact = await findContact(trx, keyId, email);
  if (!contact) return undefined;
  if (contact.status === status) return { contact, previous: contact.status };
  const updated = (await setContactStatus(trx, contact.id, status)) ?? { ...contact, status };
  await recordContactEvent(trx, { keyId, contactId: contact.id, email: contact.email, type: 'status_changed', fromStatus: contact.status, toStatus: status, source: source.type });
  if (status === 'unsubscribed') {
    const data = { contact_id: Number(contact.id), key_id: keyId, email: contact.email, previous_status: contact.status, source: source.type };
    await emitEvent(trx, { keyId, type: 'contact.unsubscribed', data }, now);
  }
  return { contact: updated, previous: contact.status };
}
