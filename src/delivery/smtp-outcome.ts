/** What an SMTP reply means for one message: the three outcomes every transport reports. */
export type SendOutcome = 'accepted' | 'temporary' | 'permanent';

/** Where in the transaction a reply came from; only recipient-level refusals say anything about the address. */
export type SmtpStage = 'connect' | 'mail' | 'rcpt' | 'data' | 'local';

export interface SendResult {
  outcome: SendOutcome;
  /** The server's reply as one line (code, enhanced code, text), or a description of the local failure. */
  reply: string;
  stage: SmtpStage;
  /** The id an email service provider gave the accepted message (kept so its events can be matched). */
  providerMessageId?: string;
}

/** 2xx accepted, 5xx permanent, anything else (4xx, garbled, none) temporary: when in doubt, retry. */
export function outcomeOfCode(code: number): SendOutcome {
  if (code >= 200 && code < 300) return 'accepted';
  if (code >= 500 && code < 600) return 'permanent';
  return 'temporary';
}

/** A permanent refusal counts against the recipient address (a bounce) only when the server refused the recipient or its data. */
export function isRecipientBounce(result: SendResult): boolean {
  return result.outcome === 'permanent' && (result.stage === 'rcpt' || result.stage === 'data');
}
