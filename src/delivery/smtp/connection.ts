import net from 'node:net';
import tls from 'node:tls';
import { outcomeOfCode, type SendResult } from '../smtp-outcome.ts';

/** Where and how to connect: parsed from MAILERDASH_SMTP_URL by smtp/transport.ts. */
export interface SmtpTarget {
  host: string;
  port: number;
  /** smtps://: TLS from the first byte; otherwise STARTTLS when the server offers it. */
  implicitTls: boolean;
  user: string | null;
  pass: string | null;
  /** Name in EHLO. */
  clientName: string;
  tls: tls.ConnectionOptions;
  /** Longest wait for any one reply, in milliseconds. */
  timeoutMs: number;
}

export interface Reply {
  code: number;
  text: string;
}

/** A dead connection or a refused handshake: nothing about a recipient, always worth retrying. */
export class SmtpConnectionError extends Error {
  constructor(
    message: string,
    /** True once the message body may have reached the server (a retry might duplicate it). */
    readonly afterData = false,
  ) {
    super(message);
    this.name = 'SmtpConnectionError';
  }
}

function oneLine(reply: Reply): string {
  return `${reply.code} ${reply.text}`.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

const DOT_LINE = Buffer.from('\r\n.');

/** RFC 5321 4.5.2: a line starting with "." gets one more. Most messages have none, and pass untouched. */
export function dotStuff(raw: Buffer): Buffer {
  let at = raw.indexOf(DOT_LINE);
  const startsWithDot = raw[0] === 0x2e;
  if (at < 0 && !startsWithDot) return raw;
  const parts: Buffer[] = [];
  let from = 0;
  if (startsWithDot) parts.push(Buffer.from('.'));
  while (at >= 0) {
    parts.push(raw.subarray(from, at + 3), Buffer.from('.'));
    from = at + 3;
    at = raw.indexOf(DOT_LINE, from);
  }
  parts.push(raw.subarray(from));
  return Buffer.concat(parts);
}

/** dotStuff over pieces that each start a line (every piece but the last ends with CRLF); unchanged pieces are not copied. */
export function dotStuffParts(parts: readonly Buffer[]): Buffer[] {
  return parts.filter((part) => part.length > 0).map(dotStuff);
}

const END_OF_DATA = Buffer.from('.\r\n');
const CRLF_END_OF_DATA = Buffer.from('\r\n.\r\n');

interface Transaction {
  envelopeFrom: string;
  recipients: string[];
  /** The message in pieces, each starting a line. */
  parts: readonly Buffer[];
  /** Its MAIL/RCPT/DATA went out with the previous transaction's body. */
  commandsSent: boolean;
}

const lines = (commands: string[]) => commands.map((c) => `${c}\r\n`).join('');

/**
 * One SMTP session: greeting, EHLO, STARTTLS, AUTH, then any number of mail transactions
 * (RFC 5321), with MAIL/RCPT/DATA sent as one group when the server offers PIPELINING (RFC 2920).
 */
export class SmtpConnection {
  private socket!: net.Socket;
  private buffer = '';
  private lines: string[] = [];
  private replies: Reply[] = [];
  private waiters: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  private failure: Error | null = null;
  private capabilities = new Set<string>();
  private authMechanisms = new Set<string>();
  private needsReset = false;
  private secure = false;
  private queued: Transaction[] = [];
  private running = false;
  private tail: Promise<unknown> = Promise.resolve();
  messagesSent = 0;

  constructor(private readonly target: SmtpTarget) {}

  get alive(): boolean {
    return this.failure === null && !this.socket.destroyed;
  }

  get pipelining(): boolean {
    return this.capabilities.has('PIPELINING');
  }

  async open(): Promise<void> {
    const { target } = this;
    this.socket = await new Promise<net.Socket>((resolve, reject) => {
      const socket = target.implicitTls
        ? tls.connect({ host: target.host, port: target.port, servername: net.isIP(target.host) ? undefined : target.host, ...target.tls }, () => resolve(socket))
        : net.connect({ host: target.host, port: target.port }, () => resolve(socket));
      socket.once('error', (e) => reject(new SmtpConnectionError(`connect to ${target.host}:${target.port} failed: ${e.message}`)));
    });
    this.secure = target.implicitTls;
    this.attach();
    const greeting = await this.read();
    if (greeting.code !== 220) throw new SmtpConnectionError(`greeting refused: ${oneLine(greeting)}`);
    await this.hello();
    if (!this.secure && this.capabilities.has('STARTTLS')) {
      const reply = await this.command('STARTTLS');
      if (reply.code !== 220) throw new SmtpConnectionError(`STARTTLS refused: ${oneLine(reply)}`);
      await this.upgrade();
      await this.hello();
    }
    if (target.user !== null) await this.authenticate();
  }

  private attach(): void {
    this.socket.setNoDelay(true);
    this.socket.setTimeout(this.target.timeoutMs);
    this.socket.on('data', this.onData);
    this.socket.on('error', this.onFailure);
    this.socket.on('close', this.onClose);
    this.socket.on('timeout', this.onTimeout);
  }

  private detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onFailure);
    this.socket.off('close', this.onClose);
    this.socket.off('timeout', this.onTimeout);
  }

  private async upgrade(): Promise<void> {
    this.detach();
    const plain = this.socket;
    const host = this.target.host;
    this.socket = await new Promise<net.Socket>((resolve, reject) => {
      const secured = tls.connect({ socket: plain, servername: net.isIP(host) ? undefined : host, ...this.target.tls }, () => resolve(secured));
      secured.once('error', (e) => reject(new SmtpConnectionError(`TLS handshake failed: ${e.message}`)));
    });
    this.secure = true;
    this.attach();
  }

  private async hello(): Promise<void> {
    let reply = await this.command(`EHLO ${this.target.clientName}`);
    if (reply.code !== 250) {
      reply = await this.command(`HELO ${this.target.clientName}`);
      if (reply.code !== 250) throw new SmtpConnectionError(`HELO refused: ${oneLine(reply)}`);
      this.capabilities = new Set();
      return;
    }
    const lines = reply.text.split('\n').slice(1);
    this.capabilities = new Set(lines.map((l) => (l.trim().split(/\s+/)[0] ?? '').toUpperCase()));
    const auth = lines.find((l) => /^AUTH[ =]/i.test(l.trim()));
    this.authMechanisms = new Set(auth ? auth.trim().slice(5).toUpperCase().split(/\s+/) : []);
  }

  private async authenticate(): Promise<void> {
    const user = this.target.user ?? '';
    const pass = this.target.pass ?? '';
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    let reply: Reply;
    if (this.authMechanisms.has('PLAIN') || !this.authMechanisms.has('LOGIN')) {
      reply = await this.command(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`);
    } else {
      reply = await this.command('AUTH LOGIN');
      if (reply.code === 334) reply = await this.command(b64(user));
      if (reply.code === 334) reply = await this.command(b64(pass));
    }
    if (reply.code !== 235) throw new SmtpConnectionError(`authentication failed: ${oneLine(reply)}`);
  }

  private onData = (chunk: Buffer): void => {
    this.buffer += chunk.toString('latin1');
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      this.lines.push(line);
      if (line.length >= 4 && line[3] === '-') continue;
      const reply = { code: Number.parseInt(line.slice(0, 3), 10) || 0, text: this.lines.map((l) => l.slice(4)).join('\n') };
      this.lines = [];
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(reply);
      else this.replies.push(reply);
    }
  };

  private fail(error: Error): void {
    if (!this.failure) this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
    this.socket.destroy();
  }

  private onFailure = (error: Error): void => this.fail(new SmtpConnectionError(`connection error: ${error.message}`));
  private onClose = (): void => this.fail(new SmtpConnectionError('connection closed by the server'));
  private onTimeout = (): void => {
    if (this.waiters.length) this.fail(new SmtpConnectionError(`no reply within ${this.target.timeoutMs} ms`));
    else void this.close();
  };

  private read(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private write(data: string | Buffer): void {
    if (this.failure) throw this.failure;
    this.socket.write(data);
  }

  private command(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  /**
   * One mail transaction. Returns one result per recipient; throws SmtpConnectionError when the
   * connection broke (the caller decides whether a retry on a fresh connection is safe).
   * Transactions queue on the connection and run in order; with PIPELINING the next one's
   * MAIL/RCPT/DATA go out in the same write as this one's body (RFC 2920 3.1), so a message costs
   * one write and its replies arrive together. At most one body is ever awaiting its reply.
   */
  send(envelopeFrom: string, recipients: string[], raw: Buffer | readonly Buffer[]): Promise<SendResult[]> {
    const transaction: Transaction = { envelopeFrom, recipients, parts: Buffer.isBuffer(raw) ? [raw] : raw, commandsSent: false };
    this.queued.push(transaction);
    const run = this.tail.then(() => this.transact(transaction));
    this.tail = run.catch(() => {});
    return run;
  }

  /** Transactions accepted by send() and not yet finished (the running one included). */
  get load(): number {
    return this.queued.length + (this.running ? 1 : 0);
  }

  private commandsOf(transaction: Transaction): string[] {
    const commands = [`MAIL FROM:<${transaction.envelopeFrom}>${this.capabilities.has('8BITMIME') ? ' BODY=8BITMIME' : ''}`];
    for (const r of transaction.recipients) commands.push(`RCPT TO:<${r}>`);
    commands.push('DATA');
    return commands;
  }

  private async transact(transaction: Transaction): Promise<SendResult[]> {
    this.queued.splice(this.queued.indexOf(transaction), 1);
    this.running = true;
    try {
      return await this.runTransaction(transaction);
    } finally {
      this.running = false;
    }
  }

  private async runTransaction(transaction: Transaction): Promise<SendResult[]> {
    const { recipients } = transaction;
    const commands = this.commandsOf(transaction);
    const replies: Reply[] = [];
    if (transaction.commandsSent) {
      for (let i = 0; i < commands.length; i++) replies.push(await this.read());
    } else {
      if (this.needsReset) commands.unshift('RSET');
      if (this.pipelining) {
        this.write(lines(commands));
        for (let i = 0; i < commands.length; i++) replies.push(await this.read());
      } else {
        for (const c of commands) {
          const reply = await this.command(c);
          replies.push(reply);
          // Without pipelining, stop at the first refusal that ends the transaction.
          if (c.startsWith('MAIL') && reply.code !== 250) break;
        }
      }
      if (commands[0] === 'RSET') replies.shift();
    }
    this.needsReset = true;
    const mail = replies[0] ?? { code: 451, text: 'no reply to MAIL FROM' };
    if (outcomeOfCode(mail.code) !== 'accepted') {
      const result: SendResult = { outcome: outcomeOfCode(mail.code), reply: oneLine(mail), stage: 'mail' };
      return recipients.map(() => result);
    }
    const rcptReplies = replies.slice(1, 1 + recipients.length);
    const data = replies[1 + recipients.length];
    const rcptResults: Array<SendResult | null> = recipients.map((_, i) => {
      const reply = rcptReplies[i];
      if (!reply) return { outcome: 'temporary', reply: 'recipient not attempted', stage: 'rcpt' };
      return outcomeOfCode(reply.code) === 'accepted' ? null : { outcome: outcomeOfCode(reply.code), reply: oneLine(reply), stage: 'rcpt' };
    });
    if (!data || data.code !== 354) {
      const refused: SendResult | null = data ? { outcome: outcomeOfCode(data.code) === 'accepted' ? 'temporary' : outcomeOfCode(data.code), reply: oneLine(data), stage: 'data' } : null;
      return rcptResults.map((r) => r ?? refused ?? { outcome: 'temporary', reply: 'DATA not attempted', stage: 'data' });
    }
    try {
      const pieces = dotStuffParts(transaction.parts);
      const last = pieces.at(-1) ?? Buffer.alloc(0);
      this.socket.cork();
      for (const piece of pieces) this.write(piece);
      this.write(last.length >= 2 && last[last.length - 2] === 0x0d && last[last.length - 1] === 0x0a ? END_OF_DATA : CRLF_END_OF_DATA);
      // The end of DATA ends the transaction whatever its reply, so the next needs no RSET.
      const next = this.pipelining ? this.queued[0] : undefined;
      if (next) {
        next.commandsSent = true;
        this.write(lines(this.commandsOf(next)));
      }
      this.socket.uncork();
      const final = await this.read();
      this.needsReset = false;
      this.messagesSent++;
      const result: SendResult = { outcome: outcomeOfCode(final.code), reply: oneLine(final), stage: 'data' };
      return rcptResults.map((r) => r ?? result);
    } catch (error) {
      throw new SmtpConnectionError((error as Error).message, true);
    }
  }

  async close(): Promise<void> {
    if (!this.socket || this.socket.destroyed) return;
    if (this.failure === null && this.waiters.length === 0) {
      try {
        this.write('QUIT\r\n');
      } catch {
        /* closing anyway */
      }
    }
    this.failure ??= new SmtpConnectionError('connection closed');
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}
