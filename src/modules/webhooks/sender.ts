import { isIP } from 'node:net';
import type { Agent, Dispatcher } from 'undici';
import type { OutboundGuard } from '../../lib/ssrf.ts';

/** One HTTP attempt of a webhook delivery, and what came of it. */

export const BODY_KEPT_BYTES = 1024;
export const ATTEMPT_TIMEOUT_MS = 10_000;

export interface WebhookRequest {
  url: string;
  id: string;
  timestamp: Date;
  body: string;
  signature: string;
}

export interface AttemptResult {
  /** A 2xx. Anything else, a redirect included, is a failure. */
  ok: boolean;
  status: number | null;
  /** The first 1 KB of the response body. */
  body: string | null;
  error: string | null;
}

export interface WebhookSender {
  send(req: WebhookRequest): Promise<AttemptResult>;
  close(): Promise<void>;
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const inner = e.cause?.code?.startsWith('webhook_url') ? e.cause : e;
  if (inner.code === 'webhook_url_forbidden') return `refused: ${inner.message}`;
  if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || (e as Error).name === 'TimeoutError') return 'timed out';
  return [inner.code, inner.message].filter(Boolean).join(': ') || String(error);
}

/**
 * Sends with keep-alive connections whose addresses come only from the guard's lookup: every new
 * connection resolves the host again and connects to the address that passed the check, so a DNS
 * answer changed after the endpoint was created (rebinding) reaches nothing. An IP literal is not
 * looked up by the socket, so it is checked here on every attempt.
 */
export function createWebhookSender(options: { guard: OutboundGuard; connectionsPerOrigin: number; timeoutMs?: number; ca?: string | Buffer }): WebhookSender {
  const timeoutMs = options.timeoutMs ?? ATTEMPT_TIMEOUT_MS;
  // undici loads at the first attempt: parsing it was a noticeable part of every start, most of which send
  // no webhook for a while.
  let agent: Promise<Agent> | null = null;
  const agentOf = () =>
    (agent ??= import('undici').then(
      ({ Agent }) =>
        new Agent({
          connections: options.connectionsPerOrigin,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          keepAliveMaxTimeout: 30_000,
          connect: { lookup: options.guard.lookup, timeout: timeoutMs, ...(options.ca ? { ca: options.ca } : {}) },
        }),
    ));

  // Per URL, parsed once: where requests go, and whether its host is an IP literal (checked per attempt).
  const targets = new Map<string, { origin: string; path: string; literal: boolean }>();
  const targetOf = (url: string) => {
    let known = targets.get(url);
    if (!known) {
      if (targets.size >= 10_000) targets.clear();
      const parsed = new URL(url);
      known = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}`, literal: isIP(parsed.hostname.replace(/^\[|\]$/g, '')) !== 0 };
      targets.set(url, known);
    }
    return known;
  };

  // One attempt through the agent's dispatch with a handler of our own: undici's request() wraps every
  // response in a Readable stream and an abort signal, about half the client's CPU per webhook.
  const post = (dispatcher: Agent, target: { origin: string; path: string }, headers: Record<string, string>, body: string) =>
    new Promise<AttemptResult>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let status = 0;
      let controller: { abort(reason: Error): void } | null = null;
      let settled = false;
      const finish = (result: AttemptResult, abort?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (abort) controller?.abort(abort);
        resolve(result);
      };
      const answered = () => {
        const ok = status >= 200 && status < 300;
        const kept = Buffer.concat(chunks, Math.min(size, BODY_KEPT_BYTES)).toString('utf8');
        return { ok, status, body: kept, error: ok ? null : `HTTP ${status}` };
      };
      // The whole attempt, queueing and connecting included, has timeoutMs.
      const timer = setTimeout(() => {
        const error = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
        finish({ ok: false, status: null, body: null, error: describe(error) }, error);
      }, timeoutMs);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(started) {
          controller = started;
          if (settled) started.abort(new Error('timed out'));
        },
        onResponseStart(_c, statusCode) {
          status = statusCode;
        },
        onResponseData(_c, chunk) {
          if (size >= BODY_KEPT_BYTES) return;
          chunks.push(chunk);
          size += chunk.length;
          // Enough kept: the rest is not read (the connection is closed rather than drained).
          if (size >= BODY_KEPT_BYTES) finish(answered(), new Error('response body not read past 1 KB'));
        },
        onResponseEnd() {
          finish(answered());
        },
        onResponseError(_c, error) {
          finish(status ? answered() : { ok: false, status: null, body: null, error: describe(error) });
        },
      };
      try {
        dispatcher.dispatch({ origin: target.origin, path: target.path, method: 'POST', headers, body }, handler);
      } catch (error) {
        finish({ ok: false, status: null, body: null, error: describe(error) });
      }
    });

  return {
    async send(req) {
      try {
        const target = targetOf(req.url);
        if (target.literal) await options.guard.check(req.url);
        return await post(
          await agentOf(),
          target,
          {
            'content-type': 'application/json',
            'user-agent': 'MailerDash-Webhooks/1',
            'webhook-id': req.id,
            'webhook-timestamp': String(Math.floor(req.timestamp.getTime() / 1000)),
            'webhook-signature': req.signature,
          },
          req.body,
        );
      } catch (error) {
        return { ok: false, status: null, body: null, error: describe(error) };
      }
    },
    async close() {
      if (agent) await (await agent).destroy();
    },
  };
}
