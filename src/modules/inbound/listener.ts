import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { DB } from '../../db/schema.ts';
import { fullBucket, take, type Bucket } from '../../delivery/token-bucket.ts';
import type { TokenPurpose } from '../tracking/tokens.ts';
import { ownedRecipient } from './recipients.ts';
import { storeReport } from './repo.ts';

/**
 * The inbound SMTP listener: takes DSNs and ARF reports to our VERP return paths and feedback
 * address, and mail to `unsubscribe+<token>@`, and refuses everything else at RCPT. Each accepted
 * mail is stored raw (inbound_reports) before the 250, and processed later by the inbound job, so
 * neither a crash nor a parser bug loses a report. Any number of listeners may share a database.
 */

export interface InboundListenerOptions {
  db: Kysely<DB>;
  logger: Logger;
  /** Checks a signed token (the link signer's verify). */
  verify(purpose: TokenPurpose, token: string): Promise<string | null>;
  hostname: string;
  bounceDomain: string;
  fblAddress: string;
  maxBytes: number;
  maxClients: number;
  /** Messages per minute from one client address; 0 = unlimited. */
  ratePerMinute: number;
  tls?: { cert: string; key: string } | null;
  /** Called after a mail was stored (e.g. to wake the workers). */
  onStored?: () => void;
  now?: () => Date;
}

export interface InboundListener {
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

interface InboundSession extends SMTPServerSession {
  /** The message a verified token named at RCPT (the first one). */
  matchedMessageId?: string | null;
}

const refusal = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });

/** A certificate pair from the configured files, or null when none is configured. */
export function readTlsFiles(cert: string | null, key: string | null): { cert: string; key: string } | null {
  if (!cert && !key) return null;
  if (!cert || !key) throw new Error('MAILERDASH_INBOUND_TLS_CERT and MAILERDASH_INBOUND_TLS_KEY go together');
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

export function createInboundListener(options: InboundListenerOptions): InboundListener {
  const clock = options.now ?? (() => new Date());
  const buckets = new Map<string, Bucket>();
  const limits = { rate: options.ratePerMinute / 60, capacity: Math.max(1, Math.ceil(options.ratePerMinute / 6)) };

  function withinRate(ip: string): boolean {
    if (options.ratePerMinute === 0) return true;
    const nowMs = clock().getTime();
    const { bucket, granted } = take(buckets.get(ip) ?? fullBucket(limits, nowMs), limits, nowMs, 1);
    buckets.set(ip, bucket);
    // The map is a cache of recent clients, not a record: forget it when it grows large.
    if (buckets.size > 10_000) buckets.clear();
    return granted > 0;
  }

  async function checkRecipient(address: SMTPServerAddress, session: InboundSession): Promise<void> {
    const owned = ownedRecipient(address.address, options.bounceDomain, options.fblAddress);
    switch (owned.type) {
      case 'foreign':
        throw refusal(550, '5.7.1 Relaying denied: this server only takes mail for its own addresses');
      case 'unknown':
        throw refusal(550, '5.1.1 No such mailbox here');
      case 'fbl':
        return;
      case 'verp': {
        if (owned.legacy) return;
        const messageId = await options.verify('bounce', owned.token);
        if (!messageId) throw refusal(550, '5.7.1 Invalid return path token');
        session.matchedMessageId ??= messageId;
        return;
      }
      case 'unsubscribe': {
        const messageId = await options.verify('unsubscribe', owned.token);
        if (!messageId) throw refusal(550, '5.7.1 Invalid unsubscribe token');
        session.matchedMessageId ??= messageId;
        return;
      }
    }
  }

  async function store(stream: SMTPServerDataStream, session: InboundSession): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    if (stream.sizeExceeded) throw refusal(552, `5.3.4 Message too large: the limit is ${options.maxBytes} bytes`);
    const envelope = session.envelope;
    await storeReport(
      options.db,
      {
        remoteIp: session.remoteAddress ?? null,
        mailFrom: envelope.mailFrom ? envelope.mailFrom.address : null,
        rcptTo: envelope.rcptTo.map((r) => r.address.toLowerCase()),
        raw: Buffer.concat(chunks),
        messageId: session.matchedMessageId ?? null,
      },
      clock(),
    );
  }

  const server = new SMTPServer({
    name: options.hostname,
    banner: 'MailerDash feedback listener',
    size: options.maxBytes,
    maxClients: options.maxClients,
    authOptional: true,
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    logger: false,
    closeTimeout: 1000,
    onMailFrom(_address, session, callback) {
      if (!withinRate(session.remoteAddress)) return callback(refusal(450, '4.7.0 Too many messages from your address, try again later'));
      (session as InboundSession).matchedMessageId = null;
      callback();
    },
    onRcptTo(address, session, callback) {
      checkRecipient(address, session as InboundSession).then(
        () => callback(),
        (error: Error & { responseCode?: number }) => {
          if (!error.responseCode) options.logger.error({ err: error }, 'inbound: checking a recipient failed');
          callback(error.responseCode ? error : refusal(451, '4.3.0 Temporary failure, try again later'));
        },
      );
    },
    onData(stream, session, callback) {
      store(stream, session as InboundSession).then(
        () => {
          options.onStored?.();
          callback(null, 'Ok: report stored');
        },
        (error: Error & { responseCode?: number }) => {
          if (!error.responseCode) options.logger.error({ err: error }, 'inbound: storing a report failed');
          // Drain what is left, so the reply goes out after the whole message.
          stream.resume();
          callback(error.responseCode ? error : refusal(451, '4.3.0 Could not store the message, try again later'));
        },
      );
    },
  });
  server.on('error', (error) => options.logger.warn({ err: error }, 'inbound SMTP connection error'));

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.server.address() as AddressInfo).port);
        });
      });
    },
    close() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
