// A real HTTP server on loopback that receives webhooks: records every request and answers as the test says.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedHook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** How to answer one request: a status (and body, headers), or 'hang' (never answer). */
export type HookAnswer = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

export interface WebhookReceiver {
  port: number;
  url(path?: string): string;
  received: ReceivedHook[];
  /** Sets the answer for each next request (default 200). */
  answer: (hook: ReceivedHook, index: number) => HookAnswer;
  /** Resolves once `count` requests have arrived in all (no polling, no sleeping). */
  waitFor(count: number): Promise<ReceivedHook[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const waiters: Array<{ count: number; resolve: (hooks: ReceivedHook[]) => void }> = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let closing = false;
  const receiver: WebhookReceiver = {
    port: 0,
    url: (path = '/hook') => `http://127.0.0.1:${receiver.port}${path}`,
    received,
    answer: () => ({ status: 200, body: 'ok' }),
    waitFor(count) {
      if (received.length >= count) return Promise.resolve(received.slice());
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const res of hanging) res.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hook = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      const index = received.push(hook) - 1;
      const answer = receiver.answer(hook, index);
      for (const waiter of [...waiters]) {
        if (received.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(received.slice());
        }
      }
      if (closing) {
        res.destroy();
        return;
      }
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  return receiver;
}
