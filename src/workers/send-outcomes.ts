// What the send job writes for a message after an attempt: pure rules over the reply and the retry schedule.
import type * as queue from '../delivery/queue-repo.ts';
import { nextRetry } from '../delivery/retry-schedule.ts';
import { isRecipientBounce, type SendResult } from '../delivery/smtp-outcome.ts';

/** The outcome of one attempt; `random` (0..1) is the retry schedule's jitter. */
export function outcomeOf(message: queue.ClaimedMessage, result: SendResult, now: Date, random: number): queue.Outcome {
  const base = { id: message.id, attempts: message.attempts, response: result.reply, dueAt: null, sentAt: null };
  // The message log derives the sent event from sent_at and the reply: no event row.
  if (result.outcome === 'accepted') return { ...base, status: 'sent', sentAt: now, event: null };
  if (result.outcome === 'permanent') {
    const status = isRecipientBounce(result) ? 'bounced' : 'failed';
    return { ...base, status, event: { type: status, data: { response: result.reply, stage: result.stage } } };
  }
  const decision = nextRetry(message.attempts, new Date(message.first_attempt_at), now, random);
  if (!decision.retry) return { ...base, status: 'failed', event: { type: 'failed', data: { response: result.reply, attempts: message.attempts } } };
  return { ...base, status: 'deferred', dueAt: decision.at, event: { type: 'deferred', data: { response: result.reply, attempt: message.attempts, retry_at: decision.at.toISOString() } } };
}

/** A claimed message given back unsent: queued again (deferred once tried), due at `dueAt`. */
export function release(message: queue.ClaimedMessage, dueAt: Date | null): queue.Outcome {
  return { id: message.id, attempts: message.attempts, status: message.attempts > 1 ? 'deferred' : 'queued', dueAt, response: null, sentAt: null, event: null };
}
