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
  readonly raw: Buffer;
  /**
   * The same bytes in pieces, each but the last ending with CRLF: the body piece is one Buffer shared by
   * every recipient of a content, so a transport that writes the pieces (SMTP) never copies a large
   * attachment per recipient. Where present, `raw` is joined from them only when read.
   */
  readonly parts?: readonly Buffer[];
}

/** An outgoing message over shared pieces, joined into `raw` only for a transport that reads it whole. */
export function outgoingMessage(fields: { id: string; envelopeFrom: string; recipient: string }, parts: readonly Buffer[]): OutgoingMessage {
  let joined: Buffer | null = null;
  return {
    ...fields,
    parts,
    get raw() {
      return (joined ??= parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    },
  };
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
