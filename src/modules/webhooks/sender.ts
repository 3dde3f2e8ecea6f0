import { isIP } from 'node:net';
import { Agent, request } from 'undici';
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
export function createWebhookSender(options: { guard: OutboundGuard; connectionsPerOrigin: number; timeoutMs?: number }): WebhookSender {
  const timeoutMs = options.timeoutMs ?? ATTEMPT_TIMEOUT_MS;
  const agent = new Agent({
    connections: options.connectionsPerOrigin,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveMaxTimeout: 30_000,
    connect: { lookup: options.guard.lookup, timeout: timeoutMs },
  });

  // Whether a URL's host is an IP literal, known per URL (parsed once, not on every attempt).
  const literal = new Map<string, boolean>();
  const isLiteral = (url: string) => {
    let known = literal.get(url);
    if (known === undefined) {
      if (literal.size >= 10_000) literal.clear();
      known = isIP(new URL(url).hostname.replace(/^\[|\]$/g, '')) !== 0;
      literal.set(url, known);
    }
    return known;
  };

  async function readHead(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= BODY_KEPT_BYTES) {
        body.destroy();
        break;
      }
    }
    return Buffer.concat(chunks).subarray(0, BODY_KEPT_BYTES).toString('utf8');
  }

  return {
    async send(req) {
      try {
        if (isLiteral(req.url)) await options.guard.check(req.url);
        const response = await request(req.url, {
          method: 'POST',
          dispatcher: agent,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'MailerDash-Webhooks/1',
            'webhook-id': req.id,
            'webhook-timestamp': String(Math.floor(req.timestamp.getTime() / 1000)),
            'webhook-signature': req.signature,
          },
          body: req.body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = await readHead(response.body).catch(() => null);
        const ok = response.statusCode >= 200 && response.statusCode < 300;
        return { ok, status: response.statusCode, body, error: ok ? null : `HTTP ${response.statusCode}` };
      } catch (error) {
        return { ok: false, status: null, body: null, error: describe(error) };
      }
    },
    async close() {
      await agent.destroy();
    },
  };
}
