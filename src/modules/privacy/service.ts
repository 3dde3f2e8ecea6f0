import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { invalid, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import { suppressAddress } from '../addresses/standing.ts';
import { recordAudit } from '../audit/repo.ts';
import { isValidEmail } from '../contacts/rules.ts';
import type { Principal } from '../keys/service.ts';
import type { ErasedAddressHasher } from '../suppressions/erased.ts';
import { exportFor } from './export-repo.ts';
import * as repo from './repo.ts';

export interface PrivacyServiceDeps {
  db: Kysely<DB>;
  erased: ErasedAddressHasher;
  now?: () => Date;
}

export interface ErasureResult {
  /** `era_…`: names the erasure in the audit log (which never holds the address). */
  id: string;
  /** The key erased from, or null: every key that held the address (an admin without key_id). */
  key_id: string | null;
  /** Rows touched (deleted, pseudonymised or, for erased_suppressions, added), summed over keys. */
  tables: Record<string, number>;
  keys: { key_id: string; tables: Record<string, number> }[];
}

function addressOf(input: string): string {
  const email = input.trim().toLowerCase();
  if (!isValidEmail(email)) throw invalid('invalid_email', 'email is not a valid address', 'email');
  return email;
}

/**
 * Erasure (GDPR article 17) and export (article 20) of one address. An erasure is one transaction
 * per key: the address path suppresses it first (cancelling live sequence subscriptions), waiting
 * messages are dropped, the rows that are the address are deleted or pseudonymised, every other
 * mention is replaced by the placeholder, and the suppression entry survives only as a keyed hash.
 */
export function createPrivacyService(deps: PrivacyServiceDeps) {
  const { db } = deps;
  const clock = deps.now ?? (() => new Date());

  async function keyExists(keyId: string): Promise<void> {
    const row = await db.selectFrom('api_keys').select('id').where('id', '=', keyId).executeTakeFirst();
    if (!row) throw notFound('key', 'key_id');
  }

  async function eraseFromKey(principal: Principal, keyId: string, email: string, erasureId: string): Promise<Record<string, number>> {
    const emailHash = await deps.erased.hash(keyId, email);
    const now = clock();
    return db.transaction().execute(async (trx) => {
      const touched: Record<string, number> = {};
      const before = await repo.findOwnRows(trx, keyId, email);
      const reason = before.suppression ?? { reason: 'manual' as const };
      // Through the one address path: a new entry cancels the address's live sequence subscriptions.
      await suppressAddress(trx, { keyId, email, reason: reason.reason, sourceType: 'erasure', sourceId: erasureId }, now);
      repo.count(touched, 'messages_dropped', await repo.dropWaitingMessages(trx, keyId, email, now));
      const own = await repo.findOwnRows(trx, keyId, email);
      await repo.eraseOwnRows(trx, keyId, email, own, touched);
      await repo.replaceInText(trx, keyId, email, touched);
      repo.count(touched, 'erased_suppressions', await repo.keepHashedSuppression(trx, keyId, emailHash, reason, now));
      await recordAudit(trx, { keyId, action: 'privacy.erased', objectType: 'erasure', objectId: erasureId, summary: { by: principal.keyId, tables: touched } }, now);
      return touched;
    });
  }

  return {
    /** scope: the key to erase from, or null (an admin) for every key that holds the address. */
    async erase(principal: Principal, scope: string | null, input: { email: string }): Promise<ErasureResult> {
      const email = addressOf(input.email);
      const id = newId('era');
      await deps.erased.ready();
      if (scope !== null && scope !== principal.keyId) await keyExists(scope);
      const keyIds = scope !== null ? [scope] : await repo.keysHolding(db, email);
      const keys = [];
      for (const keyId of keyIds) keys.push({ key_id: keyId, tables: await eraseFromKey(principal, keyId, email, id) });
      if (scope === null) {
        // Inbound mail never matched to a message belongs to no key: only an erasure across keys reaches it.
        const unowned: Record<string, number> = {};
        await repo.replaceInText(db, null, email, unowned);
        if (Object.keys(unowned).length) {
          await recordAudit(db, { keyId: principal.keyId, action: 'privacy.erased', objectType: 'erasure', objectId: id, summary: { by: principal.keyId, unowned: true, tables: unowned } }, clock());
          keys.push({ key_id: '', tables: unowned });
        }
      }
      const tables: Record<string, number> = {};
      for (const key of keys) for (const [table, n] of Object.entries(key.tables)) repo.count(tables, table, n);
      return { id, key_id: scope, tables, keys: keys.filter((k) => k.key_id !== '') };
    },

    /** Everything held about the address: for the key, or (an admin, scope null) for every key. */
    async export(scope: string | null, input: { email: string }) {
      const email = addressOf(input.email);
      if (scope !== null) await keyExists(scope);
      const keyIds = scope !== null ? [scope] : await repo.keysHolding(db, email);
      const keys = [];
      for (const keyId of keyIds) keys.push(await exportFor(db, keyId, email));
      const { rows } = scope === null ? await sql<{ id: string }>`select id from inbound_reports where key_id is null and position(${email} in lower(encode(raw, 'escape'))) > 0`.execute(db) : { rows: [] };
      return { email, generated_at: clock().toISOString(), keys, unmatched_inbound_reports: rows.map((r) => r.id) };
    },
  };
}

export type PrivacyService = ReturnType<typeof createPrivacyService>;
