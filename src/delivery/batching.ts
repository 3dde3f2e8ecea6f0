import type { SendResult } from './smtp-outcome.ts';
import type { OutgoingMessage, Transport } from './transport.ts';

/** A transport whose send() calls are gathered into the provider's own batch calls. */
export interface CoalescingTransport extends Transport {
  readonly coalescing: true;
}

export interface CoalescingOptions {
  /** Most messages handed to one sendBatch (the transport splits them further by its provider's limit). */
  max: number;
  /** A gathering is handed over when no message joined it for this long… */
  idleMs: number;
  /** …or this long after its first message, whichever comes first. */
  maxWaitMs: number;
}

export const DEFAULT_COALESCING: CoalescingOptions = { max: 1000, idleMs: 5, maxWaitMs: 100 };

/**
 * The send job hands messages over one at a time; a provider with a batch endpoint (SendGrid's
 * personalizations, Mailgun's recipient-variables, Postmark's /email/batch) takes many in one call.
 * This gathers concurrent send() calls into sendBatch() calls and answers each its own result.
 */
export function coalescing(transport: Transport & Required<Pick<Transport, 'sendBatch'>>, options: CoalescingOptions = DEFAULT_COALESCING): CoalescingTransport {
  let gathering: Array<{ message: OutgoingMessage; resolve: (result: SendResult) => void }> = [];
  let idle: NodeJS.Timeout | null = null;
  let deadline: NodeJS.Timeout | null = null;

  function handOver(): void {
    if (idle) clearTimeout(idle);
    if (deadline) clearTimeout(deadline);
    idle = deadline = null;
    const taken = gathering;
    gathering = [];
    if (!taken.length) return;
    transport.sendBatch(taken.map((t) => t.message)).then(
      (results) => taken.forEach((t, i) => t.resolve(results[i] ?? { outcome: 'temporary', reply: `${transport.name}: no result for the message`, stage: 'connect' })),
      // A transport answers its failures as results; anything thrown is retried like a lost connection.
      (error: Error) => taken.forEach((t) => t.resolve({ outcome: 'temporary', reply: `${transport.name}: ${error.message}`, stage: 'connect' })),
    );
  }

  return {
    name: transport.name,
    coalescing: true,
    send(message) {
      return new Promise<SendResult>((resolve) => {
        gathering.push({ message, resolve });
        if (gathering.length >= options.max) return handOver();
        if (idle) clearTimeout(idle);
        idle = setTimeout(handOver, options.idleMs);
        deadline ??= setTimeout(handOver, options.maxWaitMs);
      });
    },
    sendBatch: (messages) => transport.sendBatch(messages),
    async close() {
      handOver();
      await transport.close();
    },
  };
}

export const isCoalescing = (transport: Transport): transport is CoalescingTransport => (transport as Partial<CoalescingTransport>).coalescing === true;
