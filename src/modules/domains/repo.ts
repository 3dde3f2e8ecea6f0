import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { DomainsTable } from './tables.ts';

export type DomainRow = Omit<DomainsTable, 'created_at' | 'last_check'> & { created_at: Date; last_check: unknown[] | null };

const COLUMNS = ['key_id', 'domain', 'dkim_selector', 'dkim_private_key', 'dkim_public_key', 'verified_at', 'verified_by', 'last_check', 'created_at'] as const;

export function insertDomain(
  db: Kysely<DB>,
  row: Pick<DomainRow, 'key_id' | 'domain' | 'dkim_selector' | 'dkim_private_key' | 'dkim_public_key' | 'verified_at' | 'verified_by'>,
): Promise<DomainRow | undefined> {
  return db
    .insertInto('domains')
    .values({ ...row, last_check: null })
    .onConflict((oc) => oc.columns(['key_id', 'domain']).doNothing())
    .returning(COLUMNS)
    .executeTakeFirst() as Promise<DomainRow | undefined>;
}

export function findDomain(db: Kysely<DB>, keyId: string, domain: string): Promise<DomainRow | undefined> {
  return db.selectFrom('domains').select(COLUMNS).where('key_id', '=', keyId).where('domain', '=', domain).executeTakeFirst() as Promise<DomainRow | undefined>;
}

export async function listDomains(
  db: Kysely<DB>,
  filter: { keyId: string | null; limit: number; offset: number },
): Promise<{ rows: DomainRow[]; total: number }> {
  let query = db.selectFrom('domains');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  const [rows, count] = await Promise.all([
    query.select(COLUMNS).orderBy('domain').orderBy('key_id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows as DomainRow[], total: Number(count.n) };
}

export function recordCheck(
  db: Kysely<DB>,
  keyId: string,
  domain: string,
  check: { records: unknown[]; verifiedAt: Date | null },
): Promise<DomainRow | undefined> {
  return db
    .updateTable('domains')
    .set((eb) => ({
      last_check: JSON.stringify(check.records),
      // DNS can confirm a domain; a failed re-check does not take back an operator's word.
      verified_at: check.verifiedAt ? eb.fn.coalesce('verified_at', eb.val(check.verifiedAt)) : eb.ref('verified_at'),
      verified_by: check.verifiedAt ? eb.fn.coalesce('verified_by', eb.val<'dns'>('dns')) : eb.ref('verified_by'),
    }))
    .where('key_id', '=', keyId)
    .where('domain', '=', domain)
    .returning(COLUMNS)
    .executeTakeFirst() as Promise<DomainRow | undefined>;
}

export async function deleteDomain(db: Kysely<DB>, keyId: string, domain: string): Promise<boolean> {
  const result = await db.deleteFrom('domains').where('key_id', '=', keyId).where('domain', '=', domain).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function verifiedDomainNames(db: Kysely<DB>, keyId: string): Promise<string[]> {
  const rows = await db.selectFrom('domains').select('domain').where('key_id', '=', keyId).where('verified_at', 'is not', null).execute();
  return rows.map((r) => r.domain);
}

/** The signing key for mail from `domain`: the key's own domain entry, or the closest parent it verified. */
export async function findSigningDomain(db: Kysely<DB>, keyId: string, candidates: string[]): Promise<DomainRow | undefined> {
  if (!candidates.length) return undefined;
  const rows = (await db
    .selectFrom('domains')
    .select(COLUMNS)
    .where('key_id', '=', keyId)
    .where('domain', 'in', candidates)
    .where('verified_at', 'is not', null)
    .execute()) as DomainRow[];
  return rows.sort((a, b) => b.domain.length - a.domain.length)[0];
}

/** Domains whose DKIM private key is still stored as PEM (from before keys were sealed). */
export function plaintextKeys(db: Kysely<DB>, limit: number) {
  return db.selectFrom('domains').select(['key_id', 'domain', 'dkim_private_key']).where('dkim_private_key', 'like', '-----BEGIN%').limit(limit).execute();
}

/** Replaces a stored key only if it is still the one read (another process may have sealed it). */
export async function replacePrivateKey(db: Kysely<DB>, keyId: string, domain: string, was: string, sealed: string): Promise<void> {
  await db.updateTable('domains').set({ dkim_private_key: sealed }).where('key_id', '=', keyId).where('domain', '=', domain).where('dkim_private_key', '=', was).execute();
}
