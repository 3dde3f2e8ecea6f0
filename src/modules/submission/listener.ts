import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import type { ParsedAddress } from '../../lib/email-address.ts';
import type { Principal } from '../keys/service.ts';
import { MAX_RECIPIENTS } from '../send/rules.ts';
import type { Reply } from './rules.ts';
import type { SubmissionService } from './service.ts';

export interface SubmissionListenerOptions {
  service: SubmissionService;
  logger: Logger;
  /** Name in the greeting and EHLO. */
  hostname: string;
  port: number;
  host: string;
  /** The API's body limit: announced in EHLO SIZE, a larger message is refused. */
  sizeLimit: number;
  /** PEM files of the operator's certificate and key; read again when either changes. Null: no TLS. */
  tls: { certPath: string; keyPath: string } | null;
  /** TLS from the first byte (port 465) instead of STARTTLS (587). */
  implicitTls?: boolean;
  /** Accept AUTH without TLS from loopback addresses (local development, tests). */
  plaintextLoopback?: boolean;
  /** How often the certificate files are looked at (default 5 s). */
  tlsPollMs?: number;
}

export interface SubmissionListener {
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

const refusal = (reply: Reply) => Object.assign(new Error(reply.text), { responseCode: reply.code });

/** Bare LF line ends (some clients) as CRLF: the stored form is what DKIM signs. */
function toCrlf(raw: Buffer): Buffer {
  for (let i = raw.indexOf(10); i >= 0; i = raw.indexOf(10, i + 1)) {
    if (i === 0 || raw[i - 1] !== 13) return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  }
  return raw;
}

/**
 * The SMTP submission listener (smtp-server). Replies carry their own enhanced status codes (smtp-server's
 * automatic ones cannot name a layer), so its ENHANCEDSTATUSCODES extension is hidden.
 */
export async function startSubmissionListener(options: SubmissionListenerOptions): Promise<SubmissionListener> {
  const { service, logger } = options;
  const recipients = new WeakMap<object, ParsedAddress[]>();
  const readTls = () => (options.tls ? { cert: readFileSync(options.tls.certPath), key: readFileSync(options.tls.keyPath) } : {});
  const mayAuth = (session: SMTPServerSession) => session.secure || (options.plaintextLoopback === true && LOOPBACK.test(session.remoteAddress));

  const server = new SMTPServer({
    ...readTls(),
    name: options.hostname,
    banner: 'MailerDash submission',
    secure: options.implicitTls === true,
    disabledCommands: options.tls ? [] : ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    allowInsecureAuth: options.plaintextLoopback === true,
    hideENHANCEDSTATUSCODES: true,
    hideDSN: true,
    hideREQUIRETLS: true,
    size: options.sizeLimit,
    logger: false,
    closeTimeout: 1_000,

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      if (!mayAuth(session)) return callback(refusal({ code: 538, text: '5.7.0 Must issue a STARTTLS command first' }));
      service.authenticate(auth.username ?? '', auth.password ?? '', session.remoteAddress).then(
        (result) => (result.ok ? callback(null, { user: result.principal }) : callback(refusal(result.reply))),
        (error) => {
          logger.error({ err: error }, 'submission AUTH failed');
          callback(refusal({ code: 454, text: '4.7.0 temporary authentication failure; try again later' }));
        },
      );
    },

    onMailFrom(_address, session, callback) {
      recipients.set(session.envelope, []);
      callback();
    },

    onRcptTo(address, session, callback) {
      const list = recipients.get(session.envelope) ?? [];
      if (list.length >= MAX_RECIPIENTS) return callback(refusal({ code: 452, text: `4.5.3 at most ${MAX_RECIPIENTS} recipients a message` }));
      service.recipient(address.address).then(
        (result) => {
          if (!result.ok) return callback(refusal(result.reply));
          list.push(result.value);
          recipients.set(session.envelope, list);
          callback();
        },
        (error) => {
          logger.error({ err: error }, 'submission RCPT TO failed');
          callback(refusal({ code: 451, text: '4.3.0 temporary local error; try again later' }));
        },
      );
    },

    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (stream.sizeExceeded) return callback(refusal({ code: 552, text: `5.3.4 the message is larger than the limit of ${options.sizeLimit} bytes` }));
        const envelope = recipients.get(session.envelope) ?? [];
        service.accept(session.user as Principal, toCrlf(Buffer.concat(chunks)), envelope).then(
          (reply) => (reply.code === 250 ? callback(null, reply.text) : callback(refusal(reply))),
          (error) => {
            logger.error({ err: error }, 'submission DATA failed');
            callback(refusal({ code: 451, text: '4.3.0 temporary local error; the message was not accepted, try again later' }));
          },
        );
      });
    },
  });
  server.on('error', (error) => logger.warn({ err: error }, 'submission connection error'));

  let reload: (() => void) | null = null;
  if (options.tls) {
    reload = () => {
      try {
        server.updateSecureContext(readTls());
        logger.info('submission TLS certificate reloaded');
      } catch (error) {
        logger.error({ err: error }, 'submission TLS certificate could not be reloaded; the previous one stays');
      }
    };
    const interval = options.tlsPollMs ?? 5_000;
    watchFile(options.tls.certPath, { interval }, reload);
    watchFile(options.tls.keyPath, { interval }, reload);
  }

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const prune = setInterval(() => void service.prune().catch((error) => logger.warn({ err: error }, 'pruning submission counters failed')), 10 * 60_000);
  prune.unref();
  return {
    port: (server.server.address() as AddressInfo).port,
    async close() {
      clearInterval(prune);
      if (reload && options.tls) {
        unwatchFile(options.tls.certPath, reload);
        unwatchFile(options.tls.keyPath, reload);
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.flushed();
    },
  };
}
