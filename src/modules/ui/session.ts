import { randomBytes, timingSafeEqual } from 'node:crypto';
import { DomainError } from '../../errors.ts';
import type { SealedBox } from '../../lib/sealed-box.ts';
import type { KeysService, Principal } from '../keys/service.ts';

/** Name of the dashboard's session cookie (httpOnly, SameSite=Strict, sent on every path). */
export const SESSION_COOKIE = 'mailerdash_session';
/** The header a cookie-authenticated mutation must carry, equal to the session's CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

export interface UiSession {
  principal: Principal;
  csrfToken: string;
  expiresAt: Date;
}

interface SealedPayload {
  /** key id */
  k: string;
  /** CSRF token */
  c: string;
  /** expiry, epoch ms */
  e: number;
}

export interface UiSessionsDeps {
  keys: KeysService;
  /** Seals the cookie under a key derived from MAILERDASH_SECRET: unreadable and unforgeable without it. */
  box: SealedBox;
  ttlMs: number;
  now?: () => number;
}

export type UiSessions = ReturnType<typeof createUiSessions>;

/**
 * Dashboard sessions: an API key is exchanged once for a sealed cookie naming the key, a CSRF token
 * and an expiry. Nothing is stored server side; the key is looked up again on every request, so
 * revoking the key ends its sessions.
 */
export function createUiSessions(deps: UiSessionsDeps) {
  const now = deps.now ?? Date.now;

  return {
    async signIn(secret: string): Promise<{ cookie: string; session: UiSession }> {
      const principal = await deps.keys.authenticateNow(secret);
      if (!principal) throw new DomainError('unauthorized', 'invalid_api_key', 'the API key is unknown or revoked', 'key');
      const payload: SealedPayload = { k: principal.keyId, c: randomBytes(24).toString('base64url'), e: now() + deps.ttlMs };
      const cookie = await deps.box.seal(JSON.stringify(payload));
      return { cookie, session: { principal, csrfToken: payload.c, expiresAt: new Date(payload.e) } };
    },

    /** The session behind a cookie value, or null when it is forged, expired or its key revoked. */
    async read(cookie: string): Promise<UiSession | null> {
      let payload: SealedPayload;
      try {
        payload = JSON.parse(await deps.box.open(cookie)) as SealedPayload;
      } catch {
        return null;
      }
      if (typeof payload.k !== 'string' || typeof payload.c !== 'string' || typeof payload.e !== 'number') return null;
      if (payload.e <= now()) return null;
      const principal = await deps.keys.principalById(payload.k);
      return principal ? { principal, csrfToken: payload.c, expiresAt: new Date(payload.e) } : null;
    },

    ttlSeconds: () => Math.floor(deps.ttlMs / 1000),
  };
}

/** True when the header carries exactly the session's CSRF token (compared in constant time). */
export function csrfMatches(session: UiSession, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(session.csrfToken);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The value of one cookie in a Cookie request header. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function sessionCookie(value: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  const attributes = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${options.maxAgeSeconds}`];
  if (options.secure) attributes.push('Secure');
  return attributes.join('; ');
}
