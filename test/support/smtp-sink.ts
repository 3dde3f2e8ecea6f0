// A real SMTP server on loopback (smtp-server): records what arrives and answers as a test tells it to.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
  /** The connection it arrived on (to count connection reuse). */
  connectionId: string;
  secure: boolean;
  user: string | null;
}

/** A refusal: an SMTP code with its text, e.g. { code: 450, message: 'try later' }. */
export interface Refusal {
  code: number;
  message: string;
}

export interface SmtpSinkOptions {
  /** Answer to RCPT TO for an address: null accepts. */
  onRecipient?: (address: string) => Refusal | null;
  /** Answer at the end of DATA: null accepts. */
  onData?: (mail: ReceivedMail) => Refusal | null;
  /** Waits this long before answering the end of DATA (a slow server). */
  dataDelayMs?: number;
  /** Answers the end of DATA only once this resolves (a server the test holds, then lets go). */
  holdData?: () => Promise<void>;
  /** Required credentials: AUTH PLAIN/LOGIN must present them. */
  credentials?: { user: string; pass: string };
  /** Mechanisms offered (default PLAIN and LOGIN). */
  authMethods?: string[];
  /** Offer STARTTLS (smtp-server's built-in certificate). */
  starttls?: boolean;
  /** TLS from the first byte. */
  implicitTls?: boolean;
}

export interface SmtpSink {
  port: number;
  url(extra?: string): string;
  received: ReceivedMail[];
  connections: Set<string>;
  /** How many times each recipient was accepted. */
  countFor(address: string): number;
  /** Resolves when `n` messages have arrived, or rejects after the deadline. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const connections = new Set<string>();
  const serverOptions: SMTPServerOptions = {
    secure: options.implicitTls ?? false,
    disabledCommands: [...(options.credentials ? [] : ['AUTH']), ...(options.starttls || options.implicitTls ? [] : ['STARTTLS'])],
    authOptional: !options.credentials,
    authMethods: options.authMethods ?? ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    // Tests close the sink while a pooled client may still hold a connection: do not wait 30 s for it.
    closeTimeout: 100,
    logger: false,
    size: 50 * 1024 * 1024,
    onConnect(session, callback) {
      connections.add(session.id);
      callback();
    },
    onAuth(auth, _session, callback) {
      const c = options.credentials;
      if (c && auth.username === c.user && auth.password === c.pass) return callback(null, { user: auth.username });
      return callback(new Error('invalid credentials'));
    },
    onRcptTo(address, _session, callback) {
      const refusal = options.onRecipient?.(address.address) ?? null;
      if (!refusal) return callback();
      return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail: ReceivedMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          connectionId: session.id,
          secure: session.secure,
          user: (session.user as string | undefined) ?? null,
        };
        const answer = () => {
          const refusal = options.onData?.(mail) ?? null;
          if (refusal) return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
          received.push(mail);
          callback(null, 'queued as test');
        };
        if (options.holdData) void options.holdData().then(answer);
        else if (options.dataDelayMs) setTimeout(answer, options.dataDelayMs);
        else answer();
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  // A client that gives up its TLS handshake is part of some tests, not a failure of the sink.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const scheme = options.implicitTls ? 'smtps' : 'smtp';
  const auth = options.credentials ? `${encodeURIComponent(options.credentials.user)}:${encodeURIComponent(options.credentials.pass)}@` : '';
  return {
    port,
    url: (extra = '') => `${scheme}://${auth}127.0.0.1:${port}${extra}`,
    received,
    connections,
    countFor: (address) => received.filter((m) => m.to.some((t) => t.toLowerCase() === address.toLowerCase())).length,
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} messages, got ${received.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
