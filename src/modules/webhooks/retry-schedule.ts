/**
 * When a failed delivery is tried again. The first attempt goes out at once; after each failure the
 * next waits the step's delay, give or take 10 % (jitter, so a recovering endpoint is not met by every
 * delivery in the same second). The shortest possible schedule still spans more than 24 hours.
 */
export const RETRY_DELAYS_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 14 * 3_600_000] as const;

export const JITTER = 0.1;

/** Total attempts: the first and one per delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/**
 * After `attempts` failed attempts (the last at `lastAttemptAt`), when to try next, or null when the
 * delivery has had all its attempts. `random` in [0, 1) places the jitter.
 */
export function nextAttemptAt(attempts: number, lastAttemptAt: Date, random: number): Date | null {
  const delay = RETRY_DELAYS_MS[attempts - 1];
  if (delay === undefined) return null;
  const factor = 1 - JITTER + 2 * JITTER * random;
  return new Date(lastAttemptAt.getTime() + Math.round(delay * factor));
}
