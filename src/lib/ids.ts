import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A random id with a type prefix: `key_3k9x...`, `msg_...`, `camp_...`. */
export function newId(prefix: string, length = 20): string {
  const bytes = randomChunk(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % 36];
  return `${prefix}_${out}`;
}

// One call to the system's generator per 4 KB of ids instead of one per id (ids are made on every request).
let pool = Buffer.alloc(0);
let poolOffset = 0;
function randomChunk(length: number): Buffer {
  if (poolOffset + length > pool.length) {
    pool = randomBytes(Math.max(4096, length));
    poolOffset = 0;
  }
  const chunk = pool.subarray(poolOffset, poolOffset + length);
  poolOffset += length;
  return chunk;
}

/** `slug-6hex` from a human name, as the seeds show (`bienvenida-fc9674`). */
export function slugId(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return `${slug || 'item'}-${randomBytes(3).toString('hex')}`;
}
