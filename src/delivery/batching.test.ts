import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coalescing, isCoalescing } from './batching.ts';
import type { SendResult } from './smtp-outcome.ts';
import type { OutgoingMessage, Transport } from './transport.ts';

const message = (i: number): OutgoingMessage => ({ id: `msg_${i}`, envelopeFrom: `b${i}@bounce.test`, recipient: `r${i}@example.test`, raw: Buffer.from('x') });

function recordingTransport(answer: (m: OutgoingMessage) => SendResult = (m) => ({ outcome: 'accepted', reply: `ok ${m.id}`, stage: 'data', providerMessageId: `p-${m.id}` })) {
  const calls: string[][] = [];
  let closed = false;
  const transport: Transport & Required<Pick<Transport, 'sendBatch'>> = {
    name: 'batching',
    send: async (m) => answer(m),
    async sendBatch(messages) {
      calls.push(messages.map((m) => m.id));
      return messages.map(answer);
    },
    async close() {
      closed = true;
    },
  };
  return { transport, calls, closed: () => closed };
}

describe('gathering send() calls into a provider batch call', () => {
  it('concurrent sends go as one batch call; each caller gets its own result', async () => {
    const { transport, calls } = recordingTransport();
    const gathered = coalescing(transport, { max: 100, idleMs: 5, maxWaitMs: 1000 });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => gathered.send(message(i))));
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.length, 30);
    assert.deepEqual(results.map((r) => r.providerMessageId), Array.from({ length: 30 }, (_, i) => `p-msg_${i}`));
    assert.ok(isCoalescing(gathered));
  });

  it('a full gathering is handed over at once, without waiting for the timers', async () => {
    const { transport, calls } = recordingTransport();
    const gathered = coalescing(transport, { max: 10, idleMs: 60_000, maxWaitMs: 60_000 });
    await Promise.all(Array.from({ length: 25 }, (_, i) => gathered.send(message(i))).slice(0, 20));
    assert.deepEqual(calls.map((c) => c.length), [10, 10]);
    await gathered.close();
    assert.deepEqual(calls.map((c) => c.length), [10, 10, 5]);
  });

  it('a batch call that throws defers each of its messages (never a bounce), and close() closes the transport', async () => {
    const { transport, closed } = recordingTransport();
    transport.sendBatch = async () => {
      throw new Error('socket hang up');
    };
    const gathered = coalescing(transport, { max: 10, idleMs: 1, maxWaitMs: 10 });
    const results = await Promise.all([gathered.send(message(1)), gathered.send(message(2))]);
    assert.deepEqual(results.map((r) => [r.outcome, r.reply]), [['temporary', 'batching: socket hang up'], ['temporary', 'batching: socket hang up']]);
    await gathered.close();
    assert.equal(closed(), true);
  });
});
