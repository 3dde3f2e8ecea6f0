// Benchmark (not a test): the CPU floor of one webhook request on this machine, with nothing of ours
// around it (no database, no signing, no delivery loop). 16 keep-alive connections, one request in
// flight on each, an event-sized body, into a receiver in a process of its own. Clients: a bare
// HTTP/1.1 client on node:net (the least a request can cost in node) and the webhook sender (undici's
// dispatch). Receivers: the benchmarks' lean server on node:net and node:http. The bare pair is the
// ceiling the others are shown against. See docs/benchmarks.md, "Webhooks", for what the floor means
// for the issue's goal.
//   npm run bench:webhooks:floor   (BENCH_REQUESTS, default 60,000)
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createOutboundGuard } from '../src/lib/ssrf.ts';
import { createWebhookSender } from '../src/modules/webhooks/sender.ts';
import { serveLean } from './support/lean-http-server.ts';
import { cpuSecondsOf } from './support/postfix.ts';

const N = Number(process.env.BENCH_REQUESTS ?? 60_000);
const CONNECTIONS = 16;
const BODY = JSON.stringify({
  type: 'message.sent',
  timestamp: new Date().toISOString(),
  data: { message_id: 'msg_0123456789abcdef0123456789abcdef', key_id: 'key_0123456789abcdef', email: 'reader12345@example.org', channel: 'bulk', campaign_id: 'cmp_0123456789abcdef', request_id: null, custom_args: {}, response: '250 2.0.0 Ok: queued as 4Xb2Yk0Qz1' },
});
const SIGNATURE = `v1,${'x'.repeat(44)}`;

function serve(kind: string): void {
  const server =
    kind === 'node'
      ? http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
          req.on('data', () => {});
          req.on('end', () => res.end('ok'));
        })
      : net.createServer((socket) => serveLean(socket, () => ({ status: 200, body: 'ok' })));
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
}

async function startReceiver(kind: string): Promise<{ port: number; child: ChildProcess }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', kind], { execArgv: ['--import', 'tsx'] });
  const { port } = await new Promise<{ port: number }>((resolve) => child.once('message', resolve));
  return { port, child };
}

/** The least a client can do: write the request, read the status line and Content-Length body. */
function bareClient(port: number, count: number): Promise<void> {
  const request = `POST /hook HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\nwebhook-id: evt_x\r\nwebhook-timestamp: 0\r\nwebhook-signature: ${SIGNATURE}\r\n\r\n${BODY}`;
  let sent = 0;
  let answered = 0;
  return new Promise((resolve, reject) => {
    for (let c = 0; c < CONNECTIONS; c++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      let buffered = '';
      const send = () => sent < count && (sent++, socket.write(request));
      socket.on('connect', send);
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        buffered += chunk.toString('latin1');
        for (;;) {
          const headEnd = buffered.indexOf('\r\n\r\n');
          if (headEnd < 0) break;
          const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, headEnd))?.[1] ?? 0);
          if (buffered.length < headEnd + 4 + length) break;
          if (!buffered.startsWith('HTTP/1.1 200')) return reject(new Error(buffered.slice(0, 40)));
          buffered = buffered.slice(headEnd + 4 + length);
          if (++answered === count) {
            resolve();
            return void socket.destroy();
          }
          send();
        }
      });
    }
  });
}

async function senderClient(port: number, count: number): Promise<void> {
  const sender = createWebhookSender({ guard: createOutboundGuard({ allowHosts: ['localhost'] }), connectionsPerOrigin: CONNECTIONS });
  const req = { url: `http://localhost:${port}/hook`, id: 'evt_x', timestamp: new Date(0), body: BODY, signature: SIGNATURE };
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next++ < count) {
        const result = await sender.send(req);
        if (!result.ok) throw new Error(result.error ?? 'failed');
      }
    }),
  );
  await sender.close();
}

async function measure(client: string, receiverKind: string) {
  const receiver = await startReceiver(receiverKind);
  const run = (count: number) => (client === 'bare' ? bareClient(receiver.port, count) : senderClient(receiver.port, count));
  await run(2_000);
  const [c0, r0, t0] = [process.cpuUsage(), cpuSecondsOf(receiver.child.pid!), performance.now()];
  await run(N);
  const seconds = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  const receiverMs = ((cpuSecondsOf(receiver.child.pid!) - r0) * 1000) / N;
  receiver.child.kill();
  return { client, receiverKind, rate: N / seconds, clientMs: (c1.user + c1.system) / 1e3 / N, receiverMs };
}

if (process.argv.includes('--serve')) serve(process.argv[process.argv.indexOf('--serve') + 1]!);
else {
  const rows = [];
  for (const [client, receiver] of [['bare', 'lean'], ['sender', 'lean'], ['bare', 'node'], ['sender', 'node']] as const) rows.push(await measure(client, receiver));
  const floor = rows[0]!.clientMs + rows[0]!.receiverMs;
  console.log(`webhook request floor, ${N.toLocaleString('en')} requests, ${CONNECTIONS} connections (CPU per request, client + receiver):`);
  for (const r of rows) {
    const total = r.clientMs + r.receiverMs;
    console.log(`  ${`${r.client} client → ${r.receiverKind} receiver`.padEnd(32)} ${Math.round(r.rate).toLocaleString('en').padStart(7)} req/s  client ${r.clientMs.toFixed(4)} + receiver ${r.receiverMs.toFixed(4)} = ${total.toFixed(4)} ms  (${(total / floor).toFixed(2)}× the bare pair)`);
  }
  process.exit(0);
}
