import { createHash, randomBytes } from 'node:crypto';

/** Secrets are 32 random bytes; a plain SHA-256 is enough to store something that cannot be guessed. */
export function newSecret(): string {
  return `md_${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
