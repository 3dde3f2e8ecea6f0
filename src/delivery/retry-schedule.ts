/**
 * When a temporarily failed message is tried again. Exponential backoff from one minute, capped at
 * one hour, with +/-20% jitter so a relay's hiccup does not make every deferred message return at once.
 * Retries continue until a failure happens 24 hours or more after the first attempt.
 */
export const FIRST_RETRY_MS = 60_000;
export const MAX_RETRY_DELAY_MS = 60 * 60_000;
export const GIVE_UP_AFTER_MS = 24 * 60 * 60_000;
const JITTER = 0.2;

export type RetryDecision = { retry: true; at: Date } | { retry: false };

/**
 * @param attempts attempts made so far, including the one that just failed (>= 1)
 * @param firstAttemptAt when the first attempt started
 * @param random a number in [0, 1) (Math.random in production, fixed in tests)
 */
export function nextRetry(attempts: number, firstAttemptAt: Date, now: Date, random: number): RetryDecision {
  if (now.getTime() - firstAttemptAt.getTime() >= GIVE_UP_AFTER_MS) return { retry: false };
  const exponent = Math.max(0, Math.min(attempts - 1, 30));
  const base = Math.min(FIRST_RETRY_MS * 2 ** exponent, MAX_RETRY_DELAY_MS);
  const delay = Math.round(base * (1 - JITTER + 2 * JITTER * random));
  return { retry: true, at: new Date(now.getTime() + delay) };
}
