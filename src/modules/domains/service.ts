import { generateKeyPair } from 'node:crypto';
import type { Resolver } from 'node:dns/promises';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { conflict, notFound } from '../../errors.ts';
import { isDefiniteNoAnswer } from '../../lib/dns.ts';
import type { SealedBox } from '../../lib/sealed-box.ts';
import type { Principal } from '../keys/service.ts';
import { checkRecord, expectedRecords, isAddressOnDomains, isVerified, type CheckedRecord, type DnsAnswer, type ExpectedRecord } from './records.ts';
import { recordAudit } from '../audit/repo.ts';
import * as repo from './repo.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface DomainsServiceDeps {
  db: Kysely<DB>;
  resolver: Resolver;
  dkimSelector: string;
  sendingHost: string;
  bounceDomain: string;
  /** Seals DKIM private keys at rest; without it (some tests) they are stored as PEM. */
  secrets?: SealedBox;
}

export interface DomainView {
  domain: string;
  key_id: string;
  verified: boolean;
  verified_by: 'dns' | 'operator' | null;
  verified_at: string | null;
  created_at: string;
  records: CheckedRecord[];
}

/** What the delivery pipeline needs to sign mail from a domain. */
export interface SigningKey {
  domain: string;
  selector: string;
  privateKeyPem: string;
}

export type DomainsService = ReturnType<typeof createDomainsService>;

export function createDomainsService(deps: DomainsServiceDeps) {
  const { db, resolver } = deps;

  const seal = (pem: string) => (deps.secrets ? deps.secrets.seal(pem) : Promise.resolve(pem));
  // Keys stored before sealing existed are PEM until the sealing job has reached them.
  const open = (stored: string) => (stored.startsWith('-----BEGIN') || !deps.secrets ? Promise.resolve(stored) : deps.secrets.open(stored));

  async function newKeyPair() {
    const { publicKey, privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    return { publicKey: (publicKey as unknown as Buffer).toString('base64'), privateKey: await seal(privateKey as unknown as string) };
  }

  function expected(row: repo.DomainRow): ExpectedRecord[] {
    return expectedRecords({
      domain: row.domain,
      selector: row.dkim_selector,
      publicKeyBase64: row.dkim_public_key,
      sendingHost: deps.sendingHost,
      bounceDomain: deps.bounceDomain,
    });
  }

  function toView(row: repo.DomainRow): DomainView {
    const checked = (row.last_check as CheckedRecord[] | null) ?? [];
    const records = expected(row).map((r) => ({ ...r, status: checked.find((c) => c.purpose === r.purpose)?.status ?? ('unchecked' as const) }));
    return {
      domain: row.domain,
      key_id: row.key_id,
      verified: row.verified_at !== null,
      verified_by: row.verified_by,
      verified_at: row.verified_at ? row.verified_at.toISOString() : null,
      created_at: row.created_at.toISOString(),
      records,
    };
  }

  async function lookup(record: ExpectedRecord): Promise<DnsAnswer> {
    try {
      const values = record.type === 'TXT' ? (await resolver.resolveTxt(record.name)).map((chunks) => chunks.join('')) : await resolver.resolveCname(record.name);
      return values.length ? { kind: 'found', values } : { kind: 'none' };
    } catch (error) {
      return isDefiniteNoAnswer(error) ? { kind: 'none' } : { kind: 'unreachable' };
    }
  }

  async function getOwn(principal: Principal, domain: string): Promise<repo.DomainRow> {
    const row = await repo.findDomain(db, principal.keyId, domain.toLowerCase());
    if (!row) throw notFound('domain', 'domain');
    return row;
  }

  return {
    async add(principal: Principal, domain: string): Promise<DomainView> {
      // A repeated add answers 409 before paying for an RSA key pair; the insert still guards the race.
      if (await repo.findDomain(db, principal.keyId, domain.toLowerCase())) throw conflict('domain_exists', `${domain} is already added to this key`, 'domain');
      const pair = await newKeyPair();
      const row = await db.transaction().execute(async (trx) => {
        const inserted = await repo.insertDomain(trx, {
          key_id: principal.keyId,
          domain: domain.toLowerCase(),
          dkim_selector: deps.dkimSelector,
          dkim_private_key: pair.privateKey,
          dkim_public_key: pair.publicKey,
          verified_at: null,
          verified_by: null,
        });
        if (inserted) await recordAudit(trx, { keyId: principal.keyId, action: 'domain.added', objectType: 'domain', objectId: inserted.domain, summary: { dkim_selector: inserted.dkim_selector } }, new Date());
        return inserted;
      });
      if (!row) throw conflict('domain_exists', `${domain} is already added to this key`, 'domain');
      return toView(row);
    },

    /**
     * Domains an admin names at key creation count as verified on the operator's word. Their keys are
     * made (and sealed) first, outside the caller's transaction; the returned function inserts them in it.
     */
    async prepareOperatorVerified(domains: string[]): Promise<(trx: Kysely<DB>, keyId: string) => Promise<void>> {
      const names = [...new Set(domains.map((d) => d.toLowerCase()))];
      const pairs = await Promise.all(names.map(() => newKeyPair()));
      return async (trx, keyId) => {
        for (const [i, domain] of names.entries()) {
          await repo.insertDomain(trx, {
            key_id: keyId,
            domain,
            dkim_selector: deps.dkimSelector,
            dkim_private_key: pairs[i]!.privateKey,
            dkim_public_key: pairs[i]!.publicKey,
            verified_at: new Date(),
            verified_by: 'operator',
          });
        }
      };
    },

    async verify(principal: Principal, domain: string): Promise<DomainView> {
      const row = await getOwn(principal, domain);
      const records = await Promise.all(expected(row).map(async (r) => checkRecord(r, await lookup(r))));
      const updated = await db.transaction().execute(async (trx) => {
        const checked = await repo.recordCheck(trx, row.key_id, row.domain, { records, verifiedAt: isVerified(records) ? new Date() : null });
        // Only the change to verified is a change of the sending identity; a repeated check is not.
        if (checked?.verified_at && !row.verified_at) {
          await recordAudit(trx, { keyId: principal.keyId, action: 'domain.verified', objectType: 'domain', objectId: row.domain, summary: { verified_by: checked.verified_by, records: records.map((r) => r.purpose) } }, new Date());
        }
        return checked;
      });
      if (!updated) throw notFound('domain', 'domain');
      return toView(updated);
    },

    async get(principal: Principal, domain: string): Promise<DomainView> {
      return toView(await getOwn(principal, domain));
    },

    async list(scopeKeyId: string | null, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listDomains(db, { keyId: scopeKeyId, ...page });
      return { data: rows.map(toView), total };
    },

    async remove(principal: Principal, domain: string): Promise<void> {
      const name = domain.toLowerCase();
      await db.transaction().execute(async (trx) => {
        if (!(await repo.deleteDomain(trx, principal.keyId, name))) throw notFound('domain', 'domain');
        await recordAudit(trx, { keyId: principal.keyId, action: 'domain.removed', objectType: 'domain', objectId: name, summary: {} }, new Date());
      });
    },

    /** Whether `keyId` may send as `fromAddress`: its domain, or a parent of it, is verified on the key. */
    async isFromAllowed(keyId: string, fromAddress: string): Promise<boolean> {
      return isAddressOnDomains(fromAddress, await repo.verifiedDomainNames(db, keyId));
    },

    async signingKeyFor(keyId: string, fromAddress: string): Promise<SigningKey | null> {
      const domain = fromAddress.slice(fromAddress.lastIndexOf('@') + 1).toLowerCase();
      const labels = domain.split('.');
      const candidates = labels.slice(0, -1).map((_, i) => labels.slice(i).join('.'));
      const row = await repo.findSigningDomain(db, keyId, candidates);
      return row ? { domain: row.domain, selector: row.dkim_selector, privateKeyPem: await open(row.dkim_private_key) } : null;
    },

    /** Seals up to `limit` private keys still stored as PEM; returns how many (0: none left). */
    async sealStoredKeys(limit = 100): Promise<number> {
      if (!deps.secrets) return 0;
      const rows = await repo.plaintextKeys(db, limit);
      for (const row of rows) await repo.replacePrivateKey(db, row.key_id, row.domain, row.dkim_private_key, await seal(row.dkim_private_key));
      return rows.length;
    },
  };
}
