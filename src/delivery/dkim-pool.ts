import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RsaSigner } from './dkim.ts';

/**
 * RSA signing spread over worker threads, so a campaign's signatures (about 1 ms of CPU each)
 * never hold up the event loop that talks SMTP and SQL. The worker body is plain JavaScript
 * evaluated in the thread: it needs no TypeScript loader there.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPrivateKey, sign } = require('node:crypto');
const keys = new Map();
// Each signature goes back as soon as it is made, not with the rest of its batch: its message can
// be sent, and free a place for the next one, while this thread signs on.
parentPort.on('message', (batch) => {
  for (const job of batch) {
    try {
      let key = keys.get(job.pem);
      if (!key) {
        key = createPrivateKey(job.pem);
        if (keys.size > 1000) keys.clear();
        keys.set(job.pem, key);
      }
      parentPort.postMessage([{ id: job.id, signature: sign('sha256', Buffer.from(job.data, 'latin1'), key).toString('base64') }]);
    } catch (error) {
      parentPort.postMessage([{ id: job.id, error: String(error && error.message || error) }]);
    }
  }
});
`;

interface Pending {
  resolve: (signature: string) => void;
  reject: (error: Error) => void;
}

export interface SigningPool {
  sign: RsaSigner;
  close(): Promise<void>;
}

/** Signs on the calling thread: for tools and when threads are unwanted (size 0). */
export function inlineSigner(): RsaSigner {
  const keys = new Map<string, KeyObject>();
  return async (pem, data) => {
    let key = keys.get(pem);
    if (!key) keys.set(pem, (key = createPrivateKey(pem)));
    return sign('sha256', Buffer.from(data, 'latin1'), key).toString('base64');
  };
}

export function createSigningPool(size = os.availableParallelism()): SigningPool {
  if (size <= 0) return { sign: inlineSigner(), close: async () => {} };
  const pending = new Map<number, Pending>();
  let nextId = 0;
  const workers = Array.from({ length: size }, () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const state = { worker, inFlight: 0, queued: [] as Array<{ id: number; pem: string; data: string }>, scheduled: false };
    worker.on('message', (results: Array<{ id: number; signature?: string; error?: string }>) => {
      state.inFlight -= results.length;
      for (const r of results) {
        const p = pending.get(r.id);
        pending.delete(r.id);
        if (!p) continue;
        if (r.signature) p.resolve(r.signature);
        else p.reject(new Error(`DKIM signing failed: ${r.error}`));
      }
    });
    worker.on('error', (error) => {
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(error);
      }
    });
    return state;
  });

  return {
    sign(pem, data) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        let target = workers[0]!;
        for (const w of workers) if (w.inFlight + w.queued.length < target.inFlight + target.queued.length) target = w;
        target.queued.push({ id, pem, data });
        // Requests made in one tick travel in one message per thread.
        if (!target.scheduled) {
          target.scheduled = true;
          queueMicrotask(() => {
            target.scheduled = false;
            const batch = target.queued.splice(0);
            target.inFlight += batch.length;
            target.worker.postMessage(batch);
          });
        }
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      for (const p of pending.values()) p.reject(new Error('signing pool closed'));
      pending.clear();
    },
  };
}
