/**
 * Pure timing rules of sequences. No clock and no database: every time comes in as an argument.
 *
 * - Step 1 is due at the subscriber's started_at + its offset; step N at the send time of step N-1
 *   + its offset (API brief, "Sequences"). Both are `dueAfter(base, offset)`.
 * - The next step of a subscriber is the one with the smallest position above the last one sent.
 * - Pause keeps the due time as it stood; resume keeps the wait that remained at pause time:
 *   next due = resume time + max(0, next_due_at - paused_at). A step that was already due when the
 *   subscriber paused is due at once on resume; nothing due is ever skipped, and no wait is lost or
 *   gained by the time spent paused.
 */

const MS_PER_SECOND = 1000;

/** When a step with `offsetSeconds` is due after its base (started_at for step 1, the previous step's send time otherwise). */
export function dueAfter(previousSentAt: Date, offsetSeconds: number): Date {
  if (!Number.isInteger(offsetSeconds) || offsetSeconds < 0) throw new RangeError(`offset_seconds must be a whole number >= 0, got ${offsetSeconds}`);
  return new Date(previousSentAt.getTime() + offsetSeconds * MS_PER_SECOND);
}

/** The step to send after `currentPosition` (0: none sent yet), or undefined when none is left. */
export function nextStep<T extends { position: number }>(steps: readonly T[], currentPosition: number): T | undefined {
  let next: T | undefined;
  for (const step of steps) {
    if (step.position > currentPosition && (next === undefined || step.position < next.position)) next = step;
  }
  return next;
}

/** next_due_at of a new subscription: its first step's offset from started_at, or null while the sequence has no steps. */
export function firstDueAt(startedAt: Date, steps: readonly { position: number; offset_seconds: number }[]): Date | null {
  const first = nextStep(steps, 0);
  return first ? dueAfter(startedAt, first.offset_seconds) : null;
}

/**
 * next_due_at after a resume: the wait that remained at pause time, counted from the resume.
 * Null stays null (nothing was due: no next step, or the previous step's outcome is still awaited).
 */
export function resumedDueAt(nextDueAt: Date | null, pausedAt: Date | null, resumedAt: Date): Date | null {
  if (nextDueAt === null) return null;
  // A paused row without paused_at cannot be re-based: keep its due time, never lose it.
  if (pausedAt === null) return nextDueAt;
  const remaining = Math.max(0, nextDueAt.getTime() - pausedAt.getTime());
  return new Date(resumedAt.getTime() + remaining);
}
