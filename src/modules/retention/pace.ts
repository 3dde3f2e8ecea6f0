/**
 * When the retention job runs its next round: a pure rule, so the guarantee that retention stays out
 * of the send path is a decision tested with small examples, not a figure hoped for under load.
 *
 * - Bounded pace: after a round that removed rows, wait `pauseFactor` times that round's duration
 *   (it works at most 1 / (1 + pauseFactor) of the time).
 * - Yield: while the send path is busy (messages due and waiting for a sender), do not start a round.
 * - Minimum progress: a round that has been put off for `maxYieldMs` runs even while sending is busy,
 *   so a queue that is never empty cannot starve retention forever (the table would grow unbounded).
 */
export interface PaceRule {
  pauseFactor: number;
  maxYieldMs: number;
  /** While yielding, how long until it asks again whether sending is busy (the probe is not free either). */
  recheckMs: number;
}

export interface PaceState {
  /** Monotonic ms when the last round ended (null: none yet). */
  lastRoundEndedAt: number | null;
  /** How long that round took, and whether it removed anything. */
  lastRoundMs: number;
  lastRoundRemoved: boolean;
  /** Monotonic ms since when a due round has been put off for the send path (null: not yielding). */
  yieldingSince: number | null;
}

export type PaceDecision = { action: 'run' } | { action: 'wait'; untilMs: number } | { action: 'yield'; since: number; untilMs: number };

/** The pause that follows a round; the caller asks `busy` (a query) only when this one says a round is due. */
export function pauseUntil(state: PaceState, rule: PaceRule): number {
  if (state.lastRoundEndedAt === null || !state.lastRoundRemoved) return Number.NEGATIVE_INFINITY;
  return state.lastRoundEndedAt + state.lastRoundMs * rule.pauseFactor;
}

export function decide(state: PaceState, nowMs: number, sendBusy: boolean, rule: PaceRule): PaceDecision {
  const until = pauseUntil(state, rule);
  if (nowMs < until) return { action: 'wait', untilMs: until };
  if (!sendBusy) return { action: 'run' };
  const since = state.yieldingSince ?? nowMs;
  if (nowMs - since >= rule.maxYieldMs) return { action: 'run' };
  return { action: 'yield', since, untilMs: Math.min(nowMs + rule.recheckMs, since + rule.maxYieldMs) };
}
