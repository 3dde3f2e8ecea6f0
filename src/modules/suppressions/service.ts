import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import type { Principal } from '../keys/service.ts';
import { CONTACT_STATUS_OF, markContactStatus, suppressAddress, suppressAddresses } from '../addresses/standing.ts';
import type { ErasedAddressHasher } from './erased.ts';
import * as repo from './repo.ts';

export interface SuppressionsServiceDeps {
  db: Kysely<DB>;
  /** With it, an erased address (kept only as a hash) is found and removed by its address too. */
  erased?: ErasedAddressHasher;
}

export interface SuppressionView {
  email: string;
  key_id: string;
  reason: repo.SuppressionReason;
  source_type: string;
  source_id: string | null;
  detail: string | null;
  created_at: string;
}

function toView(row: repo.SuppressionRow): SuppressionView {
  return {
    email: row.email,
    key_id: row.key_id,
    reason: row.reason,
    source_type: row.source_type,
    source_id: row.source_id,
    detail: row.detail,
    created_at: row.created_at.toISOString(),
  };
}

export type SuppressionsService = ReturnType<typeof createSuppressionsService>;

export function createSuppressionsService(deps: SuppressionsServiceDeps) {
  const { db } = deps;

  async function own(principal: Principal, email: string): Promise<repo.SuppressionRow> {
    const row = (await repo.getSuppression(db, principal.keyId, email)) ?? (await erasedEntry(principal.keyId, email));
    if (!row) throw notFound('suppression', 'email');
    return row;
  }

  /** The hashed entry of an erased address, shown under the address the caller gave. */
  async function erasedEntry(keyId: string, email: string): Promise<repo.SuppressionRow | undefined> {
    if (!deps.erased) return undefined;
    const row = await repo.getErasedSuppression(db, keyId, await deps.erased.hash(keyId, email));
    return row && { key_id: keyId, email: email.toLowerCase(), reason: row.reason, source_type: 'erasure', source_id: null, detail: null, created_at: new Date(row.erased_at) };
  }

  /**
   * Suppresses an address for a reason from a source (bounce, complaint, unsubscribe) and moves the
   * contact's status to match, in the caller's transaction when given one.
   */
  async function suppress(entry: repo.NewSuppression, trx: Kysely<DB> = db): Promise<boolean> {
    return suppressAddress(trx, entry);
  }

  return {
    suppress,

    async list(scopeKeyId: string | null, filter: { reason?: repo.SuppressionReason; q?: string; limit: number; offset: number }) {
      const { rows, total } = await repo.listSuppressions(db, { keyId: scopeKeyId, ...filter });
      return { data: rows.map(toView), total };
    },

    async get(principal: Principal, email: string) {
      const row = await own(principal, email);
      const history = await repo.suppressionHistory(db, principal.keyId, email);
      return {
        ...toView(row),
        history: history.map((h) => ({ action: h.action, reason: h.reason, source_type: h.source_type, source_id: h.source_id, at: h.at.toISOString() })),
      };
    },

    /** Manual entries from the API; an address already on the list keeps its first reason. */
    async addManual(principal: Principal, emails: string[], detail: string | null) {
      const unique = [...new Set(emails.map((e) => e.toLowerCase()))];
      const added = await suppressAddresses(
        db,
        unique.map((email) => ({ keyId: principal.keyId, email, reason: 'manual' as const, sourceType: 'api', sourceId: principal.keyId, detail })),
      );
      const rows = await Promise.all(unique.map((email) => repo.getSuppression(db, principal.keyId, email)));
      return { added, existing: unique.length - added, data: rows.filter((r): r is repo.SuppressionRow => !!r).map(toView) };
    },

    /**
     * Taking an address off is explicit: the removal is logged, and a contact held back because of the
     * entry becomes active again.
     */
    async remove(principal: Principal, email: string): Promise<void> {
      const emailHash = deps.erased ? await deps.erased.hash(principal.keyId, email) : null;
      await db.transaction().execute(async (trx) => {
        // The key names the address again: an erased entry goes too (the person asked to be mailed again).
        const erased = emailHash !== null && (await repo.deleteErasedSuppression(trx, principal.keyId, emailHash));
        const removed = await repo.deleteSuppression(trx, principal.keyId, email, { sourceType: 'api', sourceId: principal.keyId });
        if (!removed && erased) return;
        if (!removed) throw notFound('suppression', 'email');
        if (CONTACT_STATUS_OF[removed.reason]) await markContactStatus(trx, principal.keyId, removed.email, 'active', { type: 'suppression_removed', id: principal.keyId });
      });
    },
  };
}
