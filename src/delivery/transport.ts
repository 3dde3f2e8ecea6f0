import type { SendResult } from './smtp-outcome.ts';

/** One prepared message for one envelope recipient. */
export interface OutgoingMessage {
  /** The message id (msg_…), for logs and file names. */
  id: string;
  /** MAIL FROM: the per-message VERP return path. */
  envelopeFrom: string;
  /** RCPT TO. */
  recipient: string;
  /** The complete message: CRLF line endings, lines of at most 998 octets. */
  raw: Buffer;
}

/** Where rendered mail goes. A transport never throws for a delivery problem: it reports it as a result. */
export interface Transport {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendResult>;
  /**
   * Optional: several messages in as few provider calls as the provider allows (one result per
   * message, in order). Transports without it are driven message by message through send().
   */
  sendBatch?(messages: OutgoingMessage[]): Promise<SendResult[]>;
  close(): Promise<void>;
}
