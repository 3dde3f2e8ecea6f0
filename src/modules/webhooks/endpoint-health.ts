/** How an attempt's result changes the health of its endpoint. */

export const FAILING_DISABLE_MS = 5 * 24 * 3_600_000;

export interface Health {
  /** When the current run of failures began; null while the endpoint answers. */
  failingSince: Date | null;
  /** Set when the endpoint is to be disabled now, with why. */
  disable: string | null;
}

export function healthAfter(failingSince: Date | null, status: number | null, ok: boolean, now: Date): Health {
  if (ok) return { failingSince: null, disable: null };
  if (status === 410) return { failingSince: failingSince ?? now, disable: 'the endpoint answered 410 Gone' };
  const since = failingSince ?? now;
  if (now.getTime() - since.getTime() >= FAILING_DISABLE_MS) return { failingSince: since, disable: 'every attempt failed for 5 days' };
  return { failingSince: since, disable: null };
}
