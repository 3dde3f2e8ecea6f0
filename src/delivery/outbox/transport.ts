import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SendResult } from '../smtp-outcome.ts';
import type { OutgoingMessage, Transport } from '../transport.ts';

/**
 * The transport when no relay is configured: each message becomes <dir>/<message id>.eml, with
 * the envelope as Return-Path and X-Envelope-To lines on top (what a receiving MTA would add).
 */
export function createOutboxTransport(dir: string): Transport {
  let ready: Promise<unknown> | null = null;
  return {
    name: 'outbox',
    async send(message: OutgoingMessage): Promise<SendResult> {
      try {
        ready ??= mkdir(dir, { recursive: true });
        await ready;
        const file = path.join(dir, `${message.id.replace(/[^\w.-]/g, '_')}.eml`);
        const envelope = Buffer.from(`Return-Path: <${message.envelopeFrom}>\r\nX-Envelope-To: <${message.recipient}>\r\n`);
        // Written under a temporary name, then renamed: a reader never sees half a message.
        const partial = `${file}.${process.pid}.tmp`;
        await writeFile(partial, Buffer.concat([envelope, message.raw]));
        await rename(partial, file);
        return { outcome: 'accepted', reply: `250 written to ${file}`, stage: 'data' };
      } catch (error) {
        ready = null;
        return { outcome: 'temporary', reply: `outbox write failed: ${(error as Error).message}`, stage: 'local' };
      }
    },
    async close() {},
  };
}
