import type { ClaimedMessage } from './queue-repo.ts';
import type { SendResult } from './smtp-outcome.ts';

/** Where one claimed message goes first: a provider, a later time (every provider capped), or nowhere (its batch was cancelled). */
export type RouteChoice = { kind: 'send'; provider: string } | { kind: 'wait'; until: Date; reason: string } | { kind: 'drop'; reason: string };

/**
 * Picks providers for messages that carry a routing policy (batch messages). The send job asks it
 * once per claimed round and again after a provider failed a message; messages it is not asked
 * about go to the default provider.
 */
export interface MessageRouter {
  /** Choices for the routed messages among `messages` (those it returns nothing for take the default provider). */
  plan(messages: ClaimedMessage[], now: Date): Promise<Map<string, RouteChoice>>;
  /** After `failed` answered `result` for the message: the next provider with room, or null (the message is retried as usual). */
  failover(message: ClaimedMessage, failed: string, result: SendResult, now: Date): Promise<string | null>;
  /** Writes the decisions made since the last call. */
  flush(now: Date): Promise<void>;
}

/**
 * A failure that says something about the provider rather than the recipient: no connection, a
 * 4xx (throttling, greylisting, a full queue) or a 5xx before the recipient was named. Another
 * provider may take the message.
 */
export function isProviderFailure(result: SendResult): boolean {
  if (result.outcome === 'accepted') return false;
  if (result.outcome === 'temporary') return true;
  return result.stage !== 'rcpt' && result.stage !== 'data';
}
