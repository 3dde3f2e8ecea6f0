/**
 * Which recipients the inbound listener owns: pure, so RCPT TO is decided without I/O beyond the
 * token check. Everything else is refused there (no relaying).
 */

export type OwnedRecipient =
  /** A VERP return path: `b-<token>@<bounce domain>`; legacy: the token is a bare message id. */
  | { type: 'verp'; token: string; legacy: boolean }
  | { type: 'unsubscribe'; token: string }
  | { type: 'fbl' }
  /** Another domain: relaying, refused. */
  | { type: 'foreign' }
  /** Our domain, but no address of ours. */
  | { type: 'unknown' };

const LEGACY_VERP = /^msg_[0-9a-z]{8,40}$/;

export function ownedRecipient(address: string, bounceDomain: string, fblAddress: string): OwnedRecipient {
  const lower = address.trim().toLowerCase();
  if (lower === fblAddress.toLowerCase()) return { type: 'fbl' };
  const at = lower.lastIndexOf('@');
  if (at <= 0 || lower.slice(at + 1) !== bounceDomain.toLowerCase()) return { type: 'foreign' };
  const local = lower.slice(0, at);
  if (local.startsWith('b-') && local.length > 2) {
    const token = local.slice(2);
    return { type: 'verp', token, legacy: LEGACY_VERP.test(token) };
  }
  if (local.startsWith('unsubscribe+') && local.length > 12) return { type: 'unsubscribe', token: local.slice(12) };
  return { type: 'unknown' };
}
