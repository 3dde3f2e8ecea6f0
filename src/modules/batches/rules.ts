import type { BatchHold, BatchOutcome, CanaryPlan, ProviderPolicy } from './tables.ts';

/** The pure rules of a batch: what its canary's result means, how it ends, and where a recipient goes first. */

/** A recipient's idempotency key dedupes it across the key's batches this long; retention prunes older ones. */
export const RECIPIENT_KEY_WINDOW_MS = 24 * 3600_000;

export type CanaryVerdict = { next: 'wait' } | { next: 'sending' } | { next: 'awaiting_approval'; hold: BatchHold };

/** Once every canary message is final: held (asked to, or a rate above its threshold), else on to the rest. */
export function canaryVerdict(plan: CanaryPlan, result: { open: number; size: number; bounced: number; complained: number }, at: Date): CanaryVerdict {
  if (result.open > 0) return { next: 'wait' };
  const size = Math.max(1, result.size);
  const rates = { bounce_rate: result.bounced / size, complaint_rate: result.complained / size, at: at.toISOString() };
  if (plan.max_bounce_rate !== undefined && rates.bounce_rate > plan.max_bounce_rate) return { next: 'awaiting_approval', hold: { reason: 'bounce_rate', ...rates } };
  if (plan.max_complaint_rate !== undefined && rates.complaint_rate > plan.max_complaint_rate) return { next: 'awaiting_approval', hold: { reason: 'complaint_rate', ...rates } };
  if (plan.hold) return { next: 'awaiting_approval', hold: { reason: 'canary_hold', ...rates } };
  return { next: 'sending' };
}

/**
 * A batch's counts by message state as the batch itself keeps them, never counted from its messages
 * (which retention removes): the counts of its last progress row, which the monitor writes when they
 * move (at most STREAM_PROGRESS_MS behind while sending) and on every status change, so they are
 * exact once final. Before the first progress row every accepted message is queued.
 */
export function storedCounts(progressCounts: Record<string, number> | null, accepted: number): Record<string, number> {
  const counts: Record<string, number> = { queued: 0, sending: 0, deferred: 0, sent: 0, bounced: 0, failed: 0, dropped: 0 };
  return progressCounts ? { ...counts, ...progressCounts } : { ...counts, queued: accepted };
}

/**
 * A batch's counts from its aggregates, never from its messages: the final states as counted when
 * they happened (a sent message that bounced later is bounced; failures retry-failed took back are
 * not failed), and every other accepted recipient open, as queued: made or not, waiting or on its way.
 */
export function aggregateCounts(
  totals: { sent: number; bounced: number; bounced_after_sent: number; failed: number; dropped: number },
  accepted: number,
  requeued: number,
): Record<string, number> {
  const sent = totals.sent - totals.bounced_after_sent;
  const failed = Math.max(0, totals.failed - requeued);
  const final = sent + totals.bounced + failed + totals.dropped;
  return { queued: Math.max(0, accepted - final), sending: 0, deferred: 0, sent, bounced: totals.bounced, failed, dropped: totals.dropped };
}

/** Never plain success over failures: any finally failed recipient makes it partial (failed when nothing was sent). */
export function completionOutcome(counts: Record<string, number>): BatchOutcome {
  const failed = counts.failed ?? 0;
  if (failed === 0) return 'success';
  return (counts.sent ?? 0) + (counts.bounced ?? 0) > 0 ? 'partial' : 'failed';
}

export function isOpen(counts: Record<string, number>): boolean {
  return (counts.queued ?? 0) + (counts.sending ?? 0) + (counts.deferred ?? 0) > 0;
}

/** A batch without a policy goes to the default provider, logged like any other choice. */
export function effectivePolicy(policy: ProviderPolicy | null, defaultProvider: string): ProviderPolicy {
  return policy ?? { providers: [defaultProvider], strategy: 'failover' };
}

/**
 * The providers a recipient may use, in the order to try them, and why the first is first:
 * failover takes the list as given; weighted draws the first by weight (`draw` in [0, 1)), the
 * others follow in list order. Providers known to be down move to the back.
 */
export function providerOrder(policy: ProviderPolicy, draw: number, down: ReadonlySet<string>): { order: string[]; reason: 'primary' | 'weight' } {
  let order = [...policy.providers];
  let reason: 'primary' | 'weight' = 'primary';
  if (policy.strategy === 'weighted' && policy.weights) {
    const total = policy.weights.reduce((a, b) => a + b, 0);
    let at = draw * total;
    let pick = order.length - 1;
    for (let i = 0; i < policy.weights.length; i++) {
      at -= policy.weights[i]!;
      if (at < 0) {
        pick = i;
        break;
      }
    }
    order = [order[pick]!, ...order.filter((_, i) => i !== pick)];
    reason = 'weight';
  }
  const up = order.filter((p) => !down.has(p));
  return { order: [...up, ...order.filter((p) => down.has(p))], reason };
}

/** The start of the next hour (when an hourly cap has room again). */
export function nextHour(now: Date): Date {
  return new Date(Math.floor(now.getTime() / 3600_000) * 3600_000 + 3600_000);
}

export function hourOf(now: Date): Date {
  return new Date(Math.floor(now.getTime() / 3600_000) * 3600_000);
}

/** How long a provider that failed is passed over: 30 s, doubled after each failed probe, at most 10 min. */
export const PROVIDER_DOWN_MS = 30_000;
const PROVIDER_DOWN_MAX_MS = 600_000;

export function providerDownMs(strikes: number): number {
  return Math.min(PROVIDER_DOWN_MAX_MS, PROVIDER_DOWN_MS * 2 ** Math.max(0, strikes - 1));
}
