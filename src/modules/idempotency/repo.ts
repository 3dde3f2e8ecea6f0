import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

export interface ClaimInput {
  keyId: string;
  idemKey: string;
  requestHash: string;
  token: string;
  lockedUntil: Date;
}

/** Claims a fresh key; false when a record exists already (the primary key decides between racers). */
export async function insertClaim(db: Kysely<DB>, input: ClaimInput): Promise<boolean> {
  const row = await db
    .insertInto('idempotency_keys')
    .values({
      key_id: input.keyId,
      idem_key: input.idemKey,
      request_hash: input.requestHash,
      claim_token: input.token,
      state: 'running',
      locked_until: input.lockedUntil,
    })
    .onConflict((oc) => oc.columns(['key_id', 'idem_key']).doNothing())
    .returning('claim_token')
    .executeTakeFirst();
  return row !== undefined;
}

export async function findRecord(db: Kysely<DB>, keyId: string, idemKey: string) {
  return db.selectFrom('idempotency_keys').selectAll().where('key_id', '=', keyId).where('idem_key', '=', idemKey).executeTakeFirst();
}

/**
 * Takes over a record that no longer counts: expired (older than `expiredBefore`) or a running claim
 * whose lease ran out (its request died). One statement, so of two racers only one wins.
 */
export async function takeOverStale(db: Kysely<DB>, input: ClaimInput & { now: Date; expiredBefore: Date }): Promise<boolean> {
  const row = await db
    .updateTable('idempotency_keys')
    .set({
      request_hash: input.requestHash,
      claim_token: input.token,
      state: 'running',
      locked_until: input.lockedUntil,
      response_status: null,
      response_headers: null,
      response_body: null,
      created_at: input.now,
    })
    .where('key_id', '=', input.keyId)
    .where('idem_key', '=', input.idemKey)
    .where((eb) => eb.or([eb('created_at', '<', input.expiredBefore), eb.and([eb('state', '=', 'running'), eb('locked_until', '<', input.now)])]))
    .returning('claim_token')
    .executeTakeFirst();
  return row !== undefined;
}

export interface StoredResponseRow {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Stores the response of the claim holding `token`; false if that claim is no longer the owner. */
export async function completeClaim(db: Kysely<DB>, keyId: string, idemKey: string, token: string, response: StoredResponseRow): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({
      state: 'done',
      response_status: response.status,
      response_headers: JSON.stringify(response.headers),
      response_body: JSON.stringify(response.body ?? null),
    })
    .where('key_id', '=', keyId)
    .where('idem_key', '=', idemKey)
    .where('claim_token', '=', token)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Lets the key be used again after the claimed request failed. */
export async function releaseClaim(db: Kysely<DB>, keyId: string, idemKey: string, token: string): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('key_id', '=', keyId)
    .where('idem_key', '=', idemKey)
    .where('claim_token', '=', token)
    .where('state', '=', 'running')
    .execute();
}

export async function deleteExpired(db: Kysely<DB>, before: Date, limit: number): Promise<number> {
  const result = await sql<{ n: number }>`
    with doomed as (
      select key_id, idem_key from idempotency_keys where created_at < ${before} limit ${limit}
    )
    delete from idempotency_keys k using doomed d where k.key_id = d.key_id and k.idem_key = d.idem_key`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
