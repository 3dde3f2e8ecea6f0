import type tls from 'node:tls';
import { SmtpConnection, SmtpConnectionError, type SmtpTarget } from './smtp-connection.ts';
import type { SendResult } from './smtp-outcome.ts';
import type { OutgoingMessage, Transport } from './transport.ts';

export interface SmtpTransportOptions {
  /** smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (implicit TLS); ?tls_verify=false accepts any certificate. */
  url: string;
  /** EHLO name (MAILERDASH_HOSTNAME). */
  clientName: string;
  /** Connections kept open to the relay at most. */
  maxConnections?: number;
  /** A connection is replaced after this many messages (some relays cap a session). */
  maxMessagesPerConnection?: number;
  timeoutMs?: number;
  tls?: tls.ConnectionOptions;
}

export function parseSmtpUrl(url: string, clientName: string, extraTls: tls.ConnectionOptions = {}, timeoutMs = 60_000): SmtpTarget {
  const parsed = new URL(url);
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') throw new Error(`not an smtp:// or smtps:// URL: ${parsed.protocol}`);
  const implicitTls = parsed.protocol === 'smtps:';
  const verify = parsed.searchParams.get('tls_verify') !== 'false';
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : implicitTls ? 465 : 25,
    implicitTls,
    user: parsed.username ? decodeURIComponent(parsed.username) : null,
    pass: parsed.password ? decodeURIComponent(parsed.password) : parsed.username ? '' : null,
    clientName,
    tls: { ...(verify ? {} : { rejectUnauthorized: false }), ...extraTls },
    timeoutMs,
  };
}

/**
 * A pool of SMTP connections to one relay. Each message takes an idle connection (or opens one,
 * up to maxConnections), runs one pipelined transaction, and gives the connection back for the next.
 */
export function createSmtpTransport(options: SmtpTransportOptions): Transport & { stats(): { open: number; idle: number } } {
  const target = parseSmtpUrl(options.url, options.clientName, options.tls, options.timeoutMs);
  const maxConnections = options.maxConnections ?? 8;
  const maxPerConnection = options.maxMessagesPerConnection ?? 1000;
  const idle: SmtpConnection[] = [];
  const queue: Array<(connection: SmtpConnection | null) => void> = [];
  let open = 0;
  let closed = false;

  async function acquire(): Promise<{ connection: SmtpConnection; reused: boolean }> {
    if (closed) throw new SmtpConnectionError('transport closed');
    while (idle.length) {
      const connection = idle.pop()!;
      if (connection.alive) return { connection, reused: true };
      open--;
    }
    if (open < maxConnections) {
      open++;
      const connection = new SmtpConnection(target);
      try {
        await connection.open();
        return { connection, reused: false };
      } catch (error) {
        open--;
        await connection.close();
        wakeNext();
        throw error;
      }
    }
    const handed = await new Promise<SmtpConnection | null>((resolve) => queue.push(resolve));
    if (handed) return { connection: handed, reused: true };
    return acquire();
  }

  function wakeNext(): void {
    queue.shift()?.(null);
  }

  function release(connection: SmtpConnection): void {
    if (closed || !connection.alive || connection.messagesSent >= maxPerConnection) {
      open--;
      void connection.close();
      wakeNext();
      return;
    }
    const waiter = queue.shift();
    if (waiter) waiter(connection);
    else idle.push(connection);
  }

  async function attempt(message: OutgoingMessage, allowRetry: boolean): Promise<SendResult> {
    let lease: { connection: SmtpConnection; reused: boolean };
    try {
      lease = await acquire();
    } catch (error) {
      return { outcome: 'temporary', reply: (error as Error).message, stage: 'connect' };
    }
    try {
      const [result] = await lease.connection.send(message.envelopeFrom, [message.recipient], message.raw);
      release(lease.connection);
      return result ?? { outcome: 'temporary', reply: 'no result', stage: 'data' };
    } catch (error) {
      release(lease.connection);
      const afterData = error instanceof SmtpConnectionError && error.afterData;
      // A kept-alive connection the server had already dropped: safe to try once more on a new one.
      if (lease.reused && !afterData && allowRetry) return attempt(message, false);
      return { outcome: 'temporary', reply: (error as Error).message, stage: afterData ? 'data' : 'connect' };
    }
  }

  return {
    name: 'smtp',
    send: (message) => attempt(message, true),
    async close() {
      closed = true;
      for (const waiter of queue.splice(0)) waiter(null);
      await Promise.all(idle.splice(0).map((c) => c.close()));
      open = 0;
    },
    stats: () => ({ open, idle: idle.length }),
  };
}
