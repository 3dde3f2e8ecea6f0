import net from 'node:net';
import tls from 'node:tls';

/**
 * The webhook sender's HTTP/1.1 client: keep-alive connections per origin, one request at a time on
 * each (no pipelining: POST is not idempotent, and some receivers mishandle it), redirects never
 * followed, the answer's body kept to `keepBytes` and the connection dropped rather than drained past
 * it. Undici did the same for about twice the CPU per request, which on a shared machine is taken from
 * the mail being sent (docs/benchmarks.md, "Webhooks").
 *
 * Every new connection resolves its host through `lookup` (the SSRF guard), and the socket connects to
 * the address that lookup handed back: no other resolution happens in between.
 */

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

export interface HttpClientOptions {
  lookup: net.LookupFunction;
  connectionsPerOrigin: number;
  keepBytes: number;
  /** An idle connection is closed after this long. */
  idleMs: number;
  /** Extra trusted certificates (tests). */
  ca?: string | Buffer;
}

export interface Target {
  https: boolean;
  hostname: string;
  port: number;
  /** `host` header value. */
  host: string;
  path: string;
  /** The pool's key. */
  origin: string;
}

export function targetOf(url: string): Target {
  const parsed = new URL(url);
  const https = parsed.protocol === 'https:';
  return {
    https,
    hostname: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || (https ? 443 : 80)),
    host: parsed.host,
    path: `${parsed.pathname}${parsed.search}`,
    origin: parsed.origin,
  };
}

interface Exchange {
  head: string;
  body: string;
  resolve(answer: HttpAnswer): void;
  reject(error: Error): void;
  /** A reused connection that fails before any answer byte may just have been closed by the server. */
  retried: boolean;
}

interface Pool {
  idle: Connection[];
  open: number;
  queue: Exchange[];
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

export interface HttpClient {
  /** Resolves with the answer, rejects on a connection error; `cancel` abandons it (its connection is closed). */
  post(target: Target, headers: string, body: string): { answer: Promise<HttpAnswer>; cancel(reason: Error): void };
  close(): void;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const pools = new Map<string, Pool>();
  const all = new Set<Connection>();
  let closed = false;

  const poolOf = (target: Target) => {
    let pool = pools.get(target.origin);
    if (!pool) pools.set(target.origin, (pool = { idle: [], open: 0, queue: [] }));
    return pool;
  };

  const dispatch = (target: Target, pool: Pool) => {
    while (pool.queue.length) {
      const connection = pool.idle.pop() ?? (pool.open < options.connectionsPerOrigin ? openConnection(target, pool) : null);
      if (!connection) return;
      connection.run(pool.queue.shift()!);
    }
  };

  function openConnection(target: Target, pool: Pool): Connection {
    pool.open++;
    const connection = new Connection(target, options, {
      idle: (c) => {
        if (closed) return c.destroy();
        pool.idle.push(c);
        dispatch(target, pool);
      },
      retry: (exchange) => {
        pool.queue.unshift(exchange);
        dispatch(target, pool);
      },
      gone: (c) => {
        pool.open--;
        all.delete(c);
        const at = pool.idle.indexOf(c);
        if (at >= 0) pool.idle.splice(at, 1);
        dispatch(target, pool);
      },
    });
    all.add(connection);
    return connection;
  }

  return {
    post(target, headers, body) {
      const head = `POST ${target.path} HTTP/1.1\r\nhost: ${target.host}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}\r\n`;
      let exchange!: Exchange;
      const answer = new Promise<HttpAnswer>((resolve, reject) => (exchange = { head, body, resolve, reject, retried: false }));
      const pool = poolOf(target);
      if (closed) exchange.reject(new Error('the webhook client is closed'));
      else {
        pool.queue.push(exchange);
        dispatch(target, pool);
      }
      return {
        answer,
        cancel(reason) {
          const queued = pool.queue.indexOf(exchange);
          if (queued >= 0) pool.queue.splice(queued, 1);
          for (const c of all) if (c.serving(exchange)) c.abandon();
          exchange.reject(reason);
        },
      };
    },
    close() {
      closed = true;
      for (const c of all) c.destroy();
      for (const pool of pools.values()) for (const e of pool.queue.splice(0)) e.reject(new Error('the webhook client is closed'));
    },
  };
}

/** One keep-alive connection: a socket, the exchange it serves, and the parse of its answer. */
class Connection {
  private readonly socket: net.Socket;
  private current: Exchange | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private used = false;
  private gotBytes = false;
  private dead = false;

  constructor(
    private readonly target: Target,
    private readonly options: HttpClientOptions,
    private readonly events: { idle(c: Connection): void; retry(e: Exchange): void; gone(c: Connection): void },
  ) {
    const common = { host: target.hostname, port: target.port, lookup: options.lookup };
    this.socket = target.https
      ? tls.connect({ ...common, servername: net.isIP(target.hostname) ? undefined : target.hostname, ca: options.ca, ALPNProtocols: ['http/1.1'] })
      : net.connect(common);
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.onClose());
    this.socket.on('timeout', () => this.destroy());
  }

  serving(exchange: Exchange): boolean {
    return this.current === exchange;
  }

  run(exchange: Exchange): void {
    this.current = exchange;
    this.gotBytes = false;
    this.socket.setTimeout(0);
    this.socket.write(exchange.head + exchange.body);
  }

  /** Its exchange was given up (timed out): the answer, if it comes, is not read. */
  abandon(): void {
    this.current = null;
    this.destroy();
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    this.events.gone(this);
  }

  private fail(error: Error): void {
    const exchange = this.current;
    this.current = null;
    const stale = exchange && this.used && !this.gotBytes && !exchange.retried;
    this.destroy();
    if (!exchange) return;
    if (stale) {
      // The server closed a kept-alive connection as the request went out: once more, on a new one.
      exchange.retried = true;
      return this.events.retry(exchange);
    }
    exchange.reject(error);
  }

  private onClose(): void {
    const parsed = this.current && this.gotBytes ? this.tryParse() : undefined;
    if (parsed?.untilClose) return this.answer(parsed);
    this.fail(new Error('the connection was closed before the answer'));
  }

  private tryParse(): ParsedAnswer | undefined {
    try {
      return parseAnswer(this.buffered, this.options.keepBytes);
    } catch (error) {
      this.fail(error as Error);
      return undefined;
    }
  }

  private answer(parsed: ParsedAnswer): void {
    const exchange = this.current!;
    this.current = null;
    this.buffered = Buffer.alloc(0);
    exchange.resolve({ status: parsed.status, body: parsed.body });
    this.used = true;
    if (parsed.cut || parsed.close || parsed.end < 0) return this.destroy();
    this.socket.setTimeout(this.options.idleMs);
    this.events.idle(this);
  }

  private onData(chunk: Buffer): void {
    if (!this.current) return this.destroy();
    this.gotBytes = true;
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    let parsed = this.tryParse();
    while (parsed?.informational) {
      this.buffered = this.buffered.subarray(parsed.end);
      parsed = this.tryParse();
    }
    // Without a length the body ends when the server closes: onClose answers then.
    if (parsed && (!parsed.untilClose || parsed.cut)) this.answer(parsed);
  }
}

export interface ParsedAnswer {
  status: number;
  body: Buffer;
  /** Where the answer ends in the buffer, -1 when unknown (the rest was not read). */
  end: number;
  /** 1xx: skip it and read on. */
  informational: boolean;
  /** The server asked to close, or HTTP/1.0 without keep-alive. */
  close: boolean;
  /** The body had more than `keepBytes`: the rest is not read. */
  cut: boolean;
  /** Neither a length nor chunks: the body runs until the connection closes. */
  untilClose: boolean;
}

/** An HTTP/1.1 answer at the start of `buffered`, or undefined while more bytes are needed. */
export function parseAnswer(buffered: Buffer, keepBytes: number): ParsedAnswer | undefined {
  const headEnd = buffered.indexOf(HEAD_END);
  if (headEnd < 0) return undefined;
  const lines = buffered.toString('latin1', 0, headEnd).split('\r\n');
  const statusLine = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
  if (!statusLine) throw new Error(`not an HTTP answer: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const status = Number(statusLine[2]);
  let length: number | null = null;
  let chunked = false;
  let connection = '';
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i]!.indexOf(':');
    if (colon < 0) continue;
    const name = lines[i]!.slice(0, colon).trim().toLowerCase();
    const value = lines[i]!.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') length = Number(value);
    else if (name === 'transfer-encoding') chunked = value.split(',').pop()!.trim() === 'chunked';
    else if (name === 'connection') connection = value;
  }
  const from = headEnd + 4;
  const close = connection.includes('close') || (statusLine[1] === '0' && !connection.includes('keep-alive'));
  const base = { status, informational: false, close, cut: false, untilClose: false };
  if (status >= 100 && status < 200) return { ...base, body: Buffer.alloc(0), end: from, informational: true };
  if (status === 204 || status === 304) return { ...base, body: Buffer.alloc(0), end: from };
  if (chunked) return chunkedBody(buffered, from, keepBytes, base);
  if (length !== null && Number.isFinite(length)) {
    if (length > keepBytes) {
      if (buffered.length - from < keepBytes) return undefined;
      return { ...base, body: buffered.subarray(from, from + keepBytes), end: -1, cut: true };
    }
    if (buffered.length - from < length) return undefined;
    return { ...base, body: buffered.subarray(from, from + length), end: from + length };
  }
  const body = buffered.subarray(from, from + keepBytes);
  return { ...base, body, end: -1, untilClose: true, cut: body.length >= keepBytes };
}

function chunkedBody(buffered: Buffer, from: number, keepBytes: number, base: Omit<ParsedAnswer, 'body' | 'end'>): ParsedAnswer | undefined {
  const parts: Buffer[] = [];
  let kept = 0;
  let at = from;
  for (;;) {
    const lineEnd = buffered.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buffered.toString('latin1', at, lineEnd).split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new Error('a malformed chunk size in the answer');
    if (size === 0) {
      // Trailers, if any, end with an empty line.
      const end = buffered.indexOf(HEAD_END, lineEnd);
      if (end < 0) return undefined;
      return { ...base, body: Buffer.concat(parts, kept), end: end + 4 };
    }
    const available = Math.min(size, buffered.length - (lineEnd + 2));
    const take = Math.min(available, keepBytes - kept);
    if (take > 0) {
      parts.push(buffered.subarray(lineEnd + 2, lineEnd + 2 + take));
      kept += take;
    }
    if (kept >= keepBytes) return { ...base, body: Buffer.concat(parts, kept), end: -1, cut: true };
    if (available < size || buffered.length < lineEnd + 2 + size + 2) return undefined;
    at = lineEnd + 2 + size + 2;
  }
}
