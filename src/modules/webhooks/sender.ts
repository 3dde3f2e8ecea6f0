import { isIP, type LookupFunction } from 'node:net';
import type { OutboundGuard } from '../../lib/ssrf.ts';
import { createHttpClient, targetOf, type Target } from './http-client.ts';

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
  if ((e as Error).name === 'TimeoutError') return 'timed out';
  return [inner.code, inner.message].filter(Boolean).join(': ') || String(error);
}

/**
 * Sends over keep-alive connections whose addresses come only from the guard's lookup: every new
 * connection resolves the host again and connects to the address that passed the check, so a DNS
 * answer changed after the endpoint was created (rebinding) reaches nothing. An IP literal is not
 * looked up by the socket, so it is checked here on every attempt.
 */
export function createWebhookSender(options: { guard: OutboundGuard; connectionsPerOrigin: number; timeoutMs?: number; ca?: string | Buffer }): WebhookSender {
  const timeoutMs = options.timeoutMs ?? ATTEMPT_TIMEOUT_MS;
  const client = createHttpClient({
    lookup: options.guard.lookup as LookupFunction,
    connectionsPerOrigin: options.connectionsPerOrigin,
    keepBytes: BODY_KEPT_BYTES,
    idleMs: 30_000,
    ca: options.ca,
  });

  // Per URL, parsed once: where requests go, and whether its host is an IP literal (checked per attempt).
  const targets = new Map<string, Target & { literal: boolean }>();
  const targetFor = (url: string) => {
    let known = targets.get(url);
    if (!known) {
      if (targets.size >= 10_000) targets.clear();
      const target = targetOf(url);
      known = { ...target, literal: isIP(target.hostname) !== 0 };
      targets.set(url, known);
    }
    return known;
  };

  // The whole attempt, queueing and connecting included, has timeoutMs.
  const post = async (target: Target, headers: string, body: string): Promise<AttemptResult> => {
    const exchange = client.post(target, headers, body);
    const timer = setTimeout(() => exchange.cancel(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), timeoutMs);
    try {
      const answer = await exchange.answer;
      const ok = answer.status >= 200 && answer.status < 300;
      return { ok, status: answer.status, body: answer.body.toString('utf8'), error: ok ? null : `HTTP ${answer.status}` };
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    async send(req) {
      try {
        const target = targetFor(req.url);
        if (target.literal) await options.guard.check(req.url);
        const headers =
          'content-type: application/json\r\nuser-agent: MailerDash-Webhooks/1\r\n' +
          `webhook-id: ${req.id}\r\nwebhook-timestamp: ${Math.floor(req.timestamp.getTime() / 1000)}\r\nwebhook-signature: ${req.signature}\r\n`;
        return await post(target, headers, req.body);
      } catch (error) {
        return { ok: false, status: null, body: null, error: describe(error) };
      }
    },
    async close() {
      client.close();
    },
  };
}
