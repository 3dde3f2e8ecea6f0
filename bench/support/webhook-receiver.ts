// A webhook receiver for the benchmarks, in a process of its own (so its CPU is not the worker's): an
// HTTP/1.1 server on 127.0.0.1 that answers every POST 200 'ok'. By default a lean one on node:net
// (lean-http-server.ts), because on this machine the receiver shares the two cores with the campaign
// while a real endpoint runs elsewhere; BENCH_RECEIVER=node makes it a node:http server. For each POST to /hook it records when
// it was received (Date.now()), the body's `timestamp` (the event time), its type and its webhook-id
// (the two read by position, not by parsing the body: see typeAndTime).
// GET /count answers how many it has; GET /stats prints and answers the count, repeats and lag percentiles.
// POST /ceiling is answered the same way and only counted (the HTTP ceiling, see httpCeiling).
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createOutboundGuard } from '../../src/lib/ssrf.ts';
import { createWebhookSender } from '../../src/modules/webhooks/sender.ts';
import { cpuSecondsOf } from './postfix.ts';
import { serveLean } from './lean-http-server.ts';

export interface ReceiverStats {
  /** POSTs to /hook. */
  count: number;
  /** Distinct webhook-id headers, and how many requests repeated an id already seen. */
  unique: number;
  repeats: number;
  byType: Record<string, number>;
  /** Event times and receipts (ms since the epoch). */
  firstEventAt: number;
  lastEventAt: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  /** Receipt minus event time, ms. */
  lag: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** p50 and p99 lag of each fifth of the events, in event order: shows whether the lag grows. */
  lagByFifth: { p50: number; p99: number }[];
  ceilingRequests: number;
  /** The receiver's own CPU (user + system), seconds. */
  cpuSeconds: number;
}

const pct = (sorted: Float64Array, p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);

/**
 * The body's `type` and `timestamp` (ms), read where the sender puts them (`{"type":…,"timestamp":…,`)
 * instead of parsing the whole body: the receiver stays lean beside the worker on the same cores. Any
 * other layout falls back to JSON.parse; a body that is not JSON counts as type '?' with no lag.
 */
function typeAndTime(text: string): { type: string; at: number } {
  const typeEnd = text.startsWith('{"type":"') ? text.indexOf('"', 9) : -1;
  if (typeEnd > 0 && text.startsWith('","timestamp":"', typeEnd)) {
    const from = typeEnd + 15;
    return { type: text.slice(9, typeEnd), at: Date.parse(text.slice(from, text.indexOf('"', from))) };
  }
  try {
    const body = JSON.parse(text) as { type?: string; timestamp?: string };
    return { type: String(body.type), at: Date.parse(String(body.timestamp)) };
  } catch {
    return { type: '?', at: NaN };
  }
}

function serve(): void {
  let eventAt = new Float64Array(1 << 17);
  let receivedAt = new Float64Array(1 << 17);
  let count = 0;
  const ids = new Set<string>();
  let repeats = 0;
  const byType: Record<string, number> = {};
  let ceilingRequests = 0;

  function stats(): ReceiverStats {
    const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => eventAt[a]! - eventAt[b]!);
    const lagOf = (idx: number[]) => Float64Array.from(idx, (i) => receivedAt[i]! - eventAt[i]!).sort();
    const all = lagOf(order);
    const fifths = Array.from({ length: 5 }, (_, f) => lagOf(order.slice(Math.floor((f * count) / 5), Math.floor(((f + 1) * count) / 5))));
    let first = Infinity, last = -Infinity, firstRx = Infinity, lastRx = -Infinity, sum = 0;
    for (let i = 0; i < count; i++) {
      first = Math.min(first, eventAt[i]!);
      last = Math.max(last, eventAt[i]!);
      firstRx = Math.min(firstRx, receivedAt[i]!);
      lastRx = Math.max(lastRx, receivedAt[i]!);
      sum += receivedAt[i]! - eventAt[i]!;
    }
    const cpu = process.cpuUsage();
    return {
      count,
      unique: ids.size,
      repeats,
      byType,
      firstEventAt: first,
      lastEventAt: last,
      firstReceivedAt: firstRx,
      lastReceivedAt: lastRx,
      lag: { p50: pct(all, 50), p90: pct(all, 90), p99: pct(all, 99), max: pct(all, 100), mean: count ? sum / count : NaN },
      lagByFifth: fifths.map((s) => ({ p50: pct(s, 50), p99: pct(s, 99) })),
      ceilingRequests,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  }

  const record = (url: string, webhookId: string, text: string): { status: number; type?: string; body: string } => {
    const now = Date.now();
    if (url === '/ceiling') {
      ceilingRequests++;
      return { status: 200, body: 'ok' };
    }
    if (count === eventAt.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      eventAt = grow(eventAt);
      receivedAt = grow(receivedAt);
    }
    const { type, at } = typeAndTime(text);
    eventAt[count] = at;
    receivedAt[count] = now;
    count++;
    byType[type] = (byType[type] ?? 0) + 1;
    if (ids.has(webhookId)) repeats++;
    else ids.add(webhookId);
    return { status: 200, body: 'ok' };
  };
  const get = (url: string): { status: number; type?: string; body: string } => {
    if (url === '/count') return { status: 200, body: String(count) };
    if (url === '/stats') {
      const s = stats();
      console.log(`  [receiver] ${s.count} requests, ${s.unique} distinct webhook-ids (${s.repeats} repeats); lag p50 ${s.lag.p50} ms, p99 ${s.lag.p99} ms, max ${s.lag.max} ms`);
      return { status: 200, type: 'application/json', body: JSON.stringify(s) };
    }
    return { status: 404, body: '' };
  };

  const listening = (server: http.Server | net.Server) => () => process.send!({ port: (server.address() as { port: number }).port });
  if (process.env.BENCH_RECEIVER === 'node') {
    const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = chunks.length === 1 ? chunks[0]!.toString('latin1') : Buffer.concat(chunks).toString('latin1');
        const answer = req.method === 'GET' ? get(req.url ?? '') : record(req.url ?? '', String(req.headers['webhook-id']), text);
        res.statusCode = answer.status;
        if (answer.type) res.setHeader('content-type', answer.type);
        res.end(answer.body);
      });
    });
    server.listen(0, '127.0.0.1', listening(server));
  } else {
    const server = net.createServer((socket) => serveLean(socket, (method, url, header, text) => (method === 'GET' ? get(url) : record(url, header('webhook-id') ?? '', text))));
    server.listen(0, '127.0.0.1', listening(server));
  }
  process.on('disconnect', () => process.exit(0));
}

export interface WebhookReceiver {
  port: number;
  child: ChildProcess;
  count(): Promise<number>;
  stats(): Promise<ReceiverStats>;
  cpuSeconds(): number;
  stop(): void;
}

/** Starts the receiver in a child process and resolves once it listens. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`webhook receiver exited (${code})`)));
  });
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return res.text();
  };
  return {
    port,
    child,
    count: async () => Number(await get('/count')),
    stats: async () => JSON.parse(await get('/stats')) as ReceiverStats,
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    stop: () => void child.kill(),
  };
}

/**
 * Requests per second that the webhook sender (createWebhookSender, undici underneath) gets from the
 * receiver with `connections` keep-alive connections and as many requests in flight, with an
 * event-sized body and no signing or database: the HTTP ceiling of one endpoint.
 */
export async function httpCeiling(port: number, count: number, connections: number): Promise<number> {
  const sender = createWebhookSender({ guard: createOutboundGuard({ allowHosts: ['127.0.0.1'] }), connectionsPerOrigin: connections });
  const body = JSON.stringify({
    type: 'message.sent',
    timestamp: new Date().toISOString(),
    data: { message_id: 'msg_0123456789abcdef0123456789abcdef', key_id: 'key_0123456789abcdef', email: 'reader12345@example.org', channel: 'bulk', campaign_id: 'cmp_0123456789abcdef', request_id: null, custom_args: {}, response: '250 2.0.0 Ok: queued as 4Xb2Yk0Qz1' },
  });
  const req = { url: `http://127.0.0.1:${port}/ceiling`, id: 'evt_x', timestamp: new Date(0), body, signature: 'v1,' + 'x'.repeat(44) };
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next++ < count) {
        const result = await sender.send(req);
        if (!result.ok) throw new Error(`HTTP ceiling: ${result.error}`);
      }
    }),
  );
  const rate = count / (Number(process.hrtime.bigint() - start) / 1e9);
  await sender.close();
  return rate;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--serve')) serve();
