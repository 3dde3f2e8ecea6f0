import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { emitEvent } from '../events/outbox.ts';
import { cancelSubscriptionsOf } from '../sequences/repo.ts';
import type { CancelReason } from '../sequences/tables.ts';
import { addSuppression } from '../suppressions/repo.ts';
import { findContact, recordContactEvent, removeSuppressionEntry, setContactStatus, type ContactRow } from './repo.ts';
import { suppressionReasonFor } from './rules.ts';
import type { ContactStatus } from './tables.ts';

const SEQUENCE_REASON_OF: Partial<Record<ContactStatus, CancelReason>> = { unsubscribed: 'unsubscribed', bounced: 'bounced', complained: 'complained' };

/**
 * Sets a contact's status and keeps the suppression list in step, in one transaction:
 * unsubscribed / bounced / complained puts the address on the key's list (source_type 'contact'
 * from the API, or the caller's source); active takes it off, and that removal is recorded in
 * contact_events so it is never silent.
 *
 * Called by the API (PATCH) and by delivery and campaigns when a bounce, complaint or unsubscribe
 * happens (`source` then names it: 'bounce', 'complaint', 'unsubscribe', with `sourceId` the
 * message or campaign). Answers the updated contact, or undefined when the key has no contact
 * with that address (the suppression is then the caller's business).
 */
export async function markContactStatus(
  db: Kysely<DB>,
  keyId: string,
  email: string,
  status: ContactStatus,
  source: { type: string; id?: string | null } = { type: 'api' },
): Promise<ContactRow | undefined> {
  const run = async (trx: Kysely<DB>) => {
    const contact = await findContact(trx, keyId, email);
    if (!contact) return undefined;
    const updated = contact.status === status ? contact : await setContactStatus(trx, contact.id, status);
    if (contact.status !== status) {
      await recordContactEvent(trx, {
        keyId,
        contactId: contact.id,
        email: contact.email,
        type: 'status_changed',
        fromStatus: contact.status,
        toStatus: status,
        source: source.type,
      });
      if (status === 'unsubscribed') {
        const data = { contact_id: Number(contact.id), key_id: keyId, email: contact.email, previous_status: contact.status, source: source.type };
        await emitEvent(trx, { keyId, type: 'contact.unsubscribed', data }, new Date());
      }
    }
    const reason = suppressionReasonFor(status);
    // The address leaves every sequence of the key with the matching reason (idempotent: none live, none cancelled).
    const leaving = SEQUENCE_REASON_OF[status];
    if (leaving) await cancelSubscriptionsOf(trx, keyId, contact.email, leaving, new Date());
    if (reason) {
      await addSuppression(trx, {
        keyId,
        email: contact.email,
        reason,
        sourceType: source.type === 'api' ? 'contact' : source.type,
        sourceId: source.id ?? String(contact.id),
        detail: `contact status ${status}`,
      });
    } else if (await removeSuppressionEntry(trx, keyId, contact.email)) {
      await recordContactEvent(trx, { keyId, contactId: contact.id, email: contact.email, type: 'unsuppressed', fromStatus: contact.status, toStatus: status, source: source.type });
    }
    return updated;
  };
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}
