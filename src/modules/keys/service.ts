import { sql, type Kysely, type Transaction } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { DomainError, forbidden, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import { recordAudit } from '../audit/repo.ts';
import * as repo from './repo.ts';
import { hashSecret, newSecret } from './secrets.ts';

/** Who is calling: the API key behind the request. */
export interface Principal {
  keyId: string;
  name: string;
  admin: boolean;
}

export interface KeyView {
  id: string;
  name: string;
  admin: boolean;
  created_at: string;
  revoked_at: string | null;
}

export interface CreateKeyInput {
  name: string;
  admin?: boolean;
  domains?: string[];
}

export interface KeysServiceDeps {
  db: Kysely<DB>;
  /** Adds operator-verified sending domains to a new key, inside its transaction. */
  /**
   * Prepares operator-verified domains outside the transaction (key pairs are made and sealed there:
   * the embedded database has one connection, which the transaction holds), then attaches them in it.
   */
  prepareDomains(domains: string[]): Promise<(trx: Transaction<DB>, keyId: string) => Promise<void>>;
  /** How long a looked-up key is trusted before the database is asked again. */
  cacheMs?: number;
  now?: () => number;
}

export type KeysService = ReturnType<typeof createKeysService>;

export function createKeysService(deps: KeysServiceDeps) {
  const { db } = deps;
  const cacheMs = deps.cacheMs ?? 5_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { principal: Principal | null; until: number }>();

  /** actor: the admin key that asked; without one (the CLI) the operator did, and the entry is the new key's. */
  async function createKey(input: CreateKeyInput, secret = newSecret(), actor: Principal | null = null): Promise<{ key: KeyView; secret: string }> {
    const attach = input.domains?.length ? await deps.prepareDomains(input.domains) : null;
    const row = await db.transaction().execute(async (trx) => {
      const key = await repo.insertKey(trx, { id: newId('key'), name: input.name, secretHash: hashSecret(secret), admin: input.admin ?? false });
      if (attach) await attach(trx, key.id);
      const summary = { name: key.name, admin: key.admin, domains: input.domains ?? [], by: actor ? 'key' : 'operator' };
      await recordAudit(trx, { keyId: actor?.keyId ?? key.id, action: 'key.created', objectType: 'key', objectId: key.id, summary }, new Date(now()));
      return key;
    });
    return { key: toView(row), secret };
  }

  async function revokeKey(id: string, actor: Principal | null): Promise<boolean> {
    const revoked = await db.transaction().execute(async (trx) => {
      if (!(await repo.revokeKey(trx, id))) return false;
      await recordAudit(trx, { keyId: actor?.keyId ?? id, action: 'key.revoked', objectType: 'key', objectId: id, summary: { by: actor ? 'key' : 'operator' } }, new Date(now()));
      return true;
    });
    cache.clear();
    return revoked;
  }

  return {
    createKey,

    /** Only an admin key creates keys, and only an admin key may give domains by the operator's word. */
    async createKeyAs(principal: Principal, input: CreateKeyInput) {
      if (!principal.admin) throw forbidden('admin_required', 'only an admin key can create keys');
      return createKey(input, newSecret(), principal);
    },

    async authenticate(secret: string): Promise<Principal | null> {
      const hash = hashSecret(secret);
      const cached = cache.get(hash);
      if (cached && cached.until > now()) return cached.principal;
      const row = await repo.findActiveKeyByHash(db, hash);
      const principal = row ? { keyId: row.id, name: row.name, admin: row.admin } : null;
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, { principal, until: now() + cacheMs });
      return principal;
    },

    /** The key behind a dashboard session, by id, revoked keys refused (cached like authenticate). */
    async principalById(id: string): Promise<Principal | null> {
      const cacheKey = `id:${id}`;
      const cached = cache.get(cacheKey);
      if (cached && cached.until > now()) return cached.principal;
      const row = await repo.findKeyById(db, id);
      const principal = row && !row.revoked_at ? { keyId: row.id, name: row.name, admin: row.admin } : null;
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { principal, until: now() + cacheMs });
      return principal;
    },

    /** Like authenticate, asking the database every time: for sessions that outlive the cache (SMTP). */
    async authenticateNow(secret: string): Promise<Principal | null> {
      const row = await repo.findActiveKeyByHash(db, hashSecret(secret));
      return row ? { keyId: row.id, name: row.name, admin: row.admin } : null;
    },

    async list(principal: Principal, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listKeys(db, { onlyId: principal.admin ? null : principal.keyId, ...page });
      return { data: rows.map(toView), total };
    },

    async revoke(principal: Principal, id: string): Promise<void> {
      if (!principal.admin) throw forbidden('admin_required', 'only an admin key can revoke keys');
      if (!(await revokeKey(id, principal))) throw notFound('key');
    },

    /** The operator's revocation (the CLI). */
    revokeById: (id: string): Promise<boolean> => revokeKey(id, null),

    /**
     * Makes sure an admin key exists at start. A configured secret becomes an admin key as is;
     * otherwise the very first start creates one and returns its secret to be shown once.
     */
    async ensureAdminKey(configuredSecret: string | null): Promise<{ created: KeyView; secret: string | null } | null> {
      return db.transaction().execute(async (trx) => {
        // Several processes may start at once against one database: one of them bootstraps.
        await sql`select pg_advisory_xact_lock(727272)`.execute(trx);
        if (configuredSecret) {
          const existing = await repo.findKeyByHash(trx, hashSecret(configuredSecret));
          if (existing) {
            if (existing.revoked_at) throw new DomainError('conflict', 'admin_key_revoked', 'MAILERDASH_ADMIN_KEY names a revoked key');
            return null;
          }
          const row = await repo.insertKey(trx, { id: newId('key'), name: 'admin (MAILERDASH_ADMIN_KEY)', secretHash: hashSecret(configuredSecret), admin: true });
          await recordAudit(trx, { keyId: row.id, action: 'key.created', objectType: 'key', objectId: row.id, summary: { name: row.name, admin: true, domains: [], by: 'start' } }, new Date(now()));
          return { created: toView(row), secret: null };
        }
        if ((await repo.countActiveAdminKeys(trx)) > 0) return null;
        const secret = newSecret();
        const row = await repo.insertKey(trx, { id: newId('key'), name: 'admin', secretHash: hashSecret(secret), admin: true });
        await recordAudit(trx, { keyId: row.id, action: 'key.created', objectType: 'key', objectId: row.id, summary: { name: row.name, admin: true, domains: [], by: 'start' } }, new Date(now()));
        return { created: toView(row), secret };
      });
    },
  };
}

function toView(row: repo.KeyRow): KeyView {
  return {
    id: row.id,
    name: row.name,
    admin: row.admin,
    created_at: row.created_at.toISOString(),
    revoked_at: row.revoked_at ? row.revoked_at.toISOString() : null,
  };
}
