import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { SuppressionsTable } from '../messages/tables.ts';

export type SuppressionReason = SuppressionsTable['reason'];

export interface NewSuppression {
  keyId: string;
  email: string;
  reason: SuppressionReason;
  sourceType: string;
  sourceId?: string | null;
  detail?: string | null;
}

/** Adds an address to a key's suppression list; an existing entry keeps its first reason and source. */
export async function addSuppression(db: Kysely<DB>, entry: NewSuppression): Promise<boolean> {
  const result = await db
    .insertInto('suppressions')
    .values({
      key_id: entry.keyId,
      email: entry.email.toLowerCase(),
      reason: entry.reason,
      source_type: entry.sourceType,
      source_id: entry.sourceId ?? null,
      detail: entry.detail ?? null,
    })
    .onConflict((oc) => oc.columns(['key_id', 'email']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** The entries among `emails` on the key's list. A database error propagates: callers never treat it as "not suppressed". */
export async function findSuppressions(db: Kysely<DB>, keyId: string, emails: string[]) {
  if (!emails.length) return [];
  return db
    .selectFrom('suppressions')
    .select(['email', 'reason', 'source_type', 'source_id', 'created_at'])
    .where('key_id', '=', keyId)
    .where('email', 'in', emails.map((e) => e.toLowerCase()))
    .execute();
}
