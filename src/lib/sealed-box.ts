import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets MailerDash must be able to read back (webhook signing secrets) are kept sealed with
 * AES-256-GCM under a key derived from the server secret, so a copy of the database alone does
 * not give them away. Format: `v1.<iv>.<tag>.<ciphertext>`, base64url.
 */
export interface SealedBox {
  seal(plain: string): Promise<string>;
  open(sealed: string): Promise<string>;
}

export function createSealedBox(serverSecret: () => Promise<string>, purpose: string): SealedBox {
  let key: Promise<Buffer> | null = null;
  const keyOf = () => (key ??= serverSecret().then((secret) => Buffer.from(hkdfSync('sha256', secret, 'mailerdash', purpose, 32))));
  return {
    async seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', await keyOf(), iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), data].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
    },
    async open(sealed) {
      const [version, iv, tag, data] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed value');
      const decipher = createDecipheriv('aes-256-gcm', await keyOf(), Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
