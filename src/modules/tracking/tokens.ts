import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed link tokens: `<message id>.<mac>`. The MAC (HMAC-SHA256 with the server secret, cut to 96
 * bits) covers the purpose, the message id and, for clicks, the target URL, so a token for one use
 * cannot be replayed for another and a click link cannot be pointed elsewhere. Short enough for the
 * local part of a mailto address (64 characters at most), hex so case-folding MTAs keep it valid.
 */
export type TokenPurpose = 'unsubscribe' | 'open' | 'click' | 'bounce';

const MAC_BYTES = 12;
const PURPOSE_TAG: Record<TokenPurpose, string> = { unsubscribe: 'u', open: 'o', click: 'c', bounce: 'b' };

function mac(secret: string, purpose: TokenPurpose, messageId: string, target: string): Buffer {
  return createHmac('sha256', secret).update(`${PURPOSE_TAG[purpose]}\n${messageId}\n${target}`).digest().subarray(0, MAC_BYTES);
}

export function signToken(secret: string, purpose: TokenPurpose, messageId: string, target = ''): string {
  return `${messageId}.${mac(secret, purpose, messageId, target).toString('hex')}`;
}

/** The message id a genuine token names, or null for anything forged, altered or malformed. */
export function verifyToken(secret: string, purpose: TokenPurpose, token: string, target = ''): string | null {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return null;
  const messageId = token.slice(0, dot);
  const given = token.slice(dot + 1).toLowerCase();
  if (!/^[0-9a-f]+$/.test(given) || given.length !== MAC_BYTES * 2) return null;
  return timingSafeEqual(Buffer.from(given, 'hex'), mac(secret, purpose, messageId, target)) ? messageId : null;
}
