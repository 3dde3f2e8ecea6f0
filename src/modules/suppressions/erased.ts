import { createHmac } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';

/**
 * The keyed hash under which an erased address stays suppressed: HMAC-SHA256 of the lower-cased
 * address under a salt of its own per key (HMAC of the key id under the server secret). Per key,
 * so one person erased from two keys leaves two unrelated hashes; keyed by the secret, so the
 * database alone cannot confirm a guessed address. Changing MAILERDASH_SECRET forgets them.
 */
export interface ErasedAddressHasher {
  /** Loads the server secret; call it before a transaction (on PGlite the loader needs the one connection). */
  ready(): Promise<void>;
  /** The hex hash of an address for a key. */
  hash(keyId: string, email: string): Promise<string>;
  /** The padded HMAC keys of a key's salt, for SQL that hashes addresses itself (erasedHashOf). */
  keysFor(keyId: string): Promise<HmacKeys>;
}

/** HMAC's inner and outer keys (salt xor ipad, salt xor opad), 64 bytes each. */
export interface HmacKeys {
  inner: Buffer;
  outer: Buffer;
}

/** What an erased address is replaced with wherever a row is kept (a reserved, undeliverable domain). */
export const ERASED_ADDRESS = 'erased@erased.invalid';

const SALT_PURPOSE = 'mailerdash erased-suppression salt v1';

export function createErasedAddressHasher(serverSecret: () => Promise<string>): ErasedAddressHasher {
  const salts = new Map<string, Promise<Buffer>>();
  const saltFor = (keyId: string) => {
    let salt = salts.get(keyId);
    if (!salt) {
      salt = serverSecret().then((secret) => createHmac('sha256', secret).update(`${SALT_PURPOSE}\0${keyId}`).digest());
      salt.catch(() => salts.delete(keyId));
      salts.set(keyId, salt);
    }
    return salt;
  };
  return {
    async ready() {
      await serverSecret();
    },
    async hash(keyId, email) {
      return createHmac('sha256', await saltFor(keyId)).update(email.toLowerCase(), 'utf8').digest('hex');
    },
    async keysFor(keyId) {
      const salt = await saltFor(keyId);
      const padded = Buffer.alloc(64);
      salt.copy(padded);
      return { inner: Buffer.from(padded.map((b) => b ^ 0x36)), outer: Buffer.from(padded.map((b) => b ^ 0x5c)) };
    },
  };
}

/**
 * The same hash computed by the database (sha256 is built in on PostgreSQL and PGlite), so a
 * statement that checks addresses set-wise needs no round trip per address.
 */
export function erasedHashOf(keys: HmacKeys, email: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`encode(sha256(${keys.outer}::bytea || sha256(${keys.inner}::bytea || convert_to(lower(${email}), 'UTF8'))), 'hex')`;
}
