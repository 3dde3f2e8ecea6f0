import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { DomainError, conflict } from '../../errors.ts';
import type { Job } from '../../workers/runner.ts';
import { requestHash } from './canonical.ts';
import * as repo from './repo.ts';

/** A response as the client saw it, kept to be answered again on a retry. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The right to run one request under an Idempotency-Key. */
export interface IdempotencyClaim {
  readonly keyId: string;
  readonly idemKey: string;
  /**
   * Stores the response, in `within` when given: pass the transaction that makes the request's
   * effects durable, so both commit or neither. Throws a 409 if the claim was lost to another request meanwhile.
   */
  complete(response: StoredResponse, within?: Kysely<DB>): Promise<void>;
  readonly completed: boolean;
  /** Frees the key after a failed request, so a corrected retry may use it. */
  release(): Promise<void>;
}

export type IdempotencyBegin = { kind: 'claimed'; claim: IdempotencyClaim } | { kind: 'replay'; response: StoredResponse };

export interface IdempotencyDeps {
  db: Kysely<DB>;
  /** How long a key is remembered (24 h). */
  ttlMs?: number;
  /** How long a running claim is trusted before its request is presumed dead. */
  leaseMs?: number;
  now?: () => Date;
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;

/** Seconds a client is told to wait (Retry-After) before retrying a request whose key is still in use. */
export const IN_FLIGHT_RETRY_AFTER_S = 1;

const inFlight = () =>
  Object.assign(conflict('idempotency_in_flight', 'a request with this Idempotency-Key is still being processed; retry later', 'Idempotency-Key'), {
    retryAfter: IN_FLIGHT_RETRY_AFTER_S,
  });

export function createIdempotencyService(deps: IdempotencyDeps) {
  const { db } = deps;
  const ttlMs = deps.ttlMs ?? 24 * 3600_000;
  const leaseMs = deps.leaseMs ?? 60_000;
  const now = deps.now ?? (() => new Date());

  function claimFor(keyId: string, idemKey: string, token: string): IdempotencyClaim {
    let completed = false;
    return {
      keyId,
      idemKey,
      get completed() {
        return completed;
      },
      async complete(response, within = db) {
        if (!(await repo.completeClaim(within, keyId, idemKey, token, response))) throw inFlight();
        completed = true;
      },
      async release() {
        await repo.releaseClaim(db, keyId, idemKey, token);
      },
    };
  }

  return {
    /**
     * Claims `idemKey` for this request, or answers what an earlier request with it answered.
     * Same key with another payload: 422; same key while the first request runs: 409.
     */
    async begin(keyId: string, idemKey: string, operation: string, payload: unknown): Promise<IdempotencyBegin> {
      const hash = requestHash(operation, payload);
      const token = randomUUID();
      const at = now();
      const input = { keyId, idemKey, requestHash: hash, token, lockedUntil: new Date(at.getTime() + leaseMs) };
      if (await repo.insertClaim(db, input)) return { kind: 'claimed', claim: claimFor(keyId, idemKey, token) };
      const existing = await repo.findRecord(db, keyId, idemKey);
      const expiredBefore = new Date(at.getTime() - ttlMs);
      const stale = !existing || existing.created_at < expiredBefore || (existing.state === 'running' && existing.locked_until < at);
      if (stale) {
        const won = existing ? await repo.takeOverStale(db, { ...input, now: at, expiredBefore }) : await repo.insertClaim(db, input);
        if (won) return { kind: 'claimed', claim: claimFor(keyId, idemKey, token) };
        throw inFlight();
      }
      if (existing.request_hash !== hash) {
        throw new DomainError('payload_mismatch', 'idempotency_key_reused', 'this Idempotency-Key was used with a different request', 'Idempotency-Key');
      }
      if (existing.state === 'running') throw inFlight();
      return {
        kind: 'replay',
        response: { status: existing.response_status ?? 200, headers: existing.response_headers ?? {}, body: existing.response_body },
      };
    },

    /** Forgets keys older than the window, a slice at a time; once caught up, looks again a minute later. */
    expiryJob(batch = 1000, idleMs = 60_000): Job {
      let nextAt = 0;
      return {
        name: 'idempotency-expiry',
        async runOnce() {
          if (now().getTime() < nextAt) return 0;
          const deleted = await repo.deleteExpired(db, new Date(now().getTime() - ttlMs), batch);
          if (deleted < batch) nextAt = now().getTime() + idleMs;
          return deleted;
        },
      };
    },
  };
}
