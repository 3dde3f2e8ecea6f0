// Report mails as the big MTAs write them, for tests and the benchmark: an RFC 3464 DSN, an
// RFC 5965 ARF report, an out-of-office reply. CRLF line ends, as on the wire.

const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';

export interface DsnOptions {
  recipient: string;
  action?: 'failed' | 'delayed' | 'delivered';
  status?: string;
  diagnostic?: string;
  /** The Message-ID of the enclosed original (headers only), if any. */
  originalMessageId?: string;
  /** Padding in the enclosed original, to make the mail large. */
  bodyBytes?: number;
}

export function dsnMail(o: DsnOptions): string {
  const action = o.action ?? 'failed';
  const status = o.status ?? '5.1.1';
  const boundary = 'dsn-boundary-42';
  return crlf([
    'From: Mail Delivery System <MAILER-DAEMON@mx.rcpt.test>',
    'To: <bounces@bounce.test>',
    `Subject: ${action === 'delivered' ? 'Successful Mail Delivery Report' : 'Undelivered Mail Returned to Sender'}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.rcpt.test.',
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.rcpt.test',
    'Arrival-Date: Tue,  1 Dec 2026 10:00:00 +0000 (UTC)',
    '',
    `Final-Recipient: rfc822; ${o.recipient}`,
    `Original-Recipient: rfc822;${o.recipient}`,
    `Action: ${action}`,
    `Status: ${status}`,
    'Remote-MTA: dns; inbox.rcpt.test',
    ...(o.diagnostic ? [`Diagnostic-Code: smtp; ${o.diagnostic}`] : []),
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    ...(o.originalMessageId ? [`Message-ID: <${o.originalMessageId}>`] : []),
    'From: News <news@news.test>',
    `To: ${o.recipient}`,
    'Subject: Hello',
    ...(o.bodyBytes ? [`X-Padding: ${'x'.repeat(o.bodyBytes)}`] : []),
    '',
    `--${boundary}--`,
  ]);
}

export function arfMail(o: { originalMessageId: string; feedbackType?: string; redacted?: boolean; recipient: string }): string {
  const boundary = 'arf-boundary-7';
  const rcpt = o.redacted ? 'redacted@rcpt.test' : o.recipient;
  return crlf([
    'From: <staff@hotmail.test>',
    'To: <fbl@bounce.test>',
    'Subject: complaint about message from 192.0.2.1',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=feedback-report; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset="US-ASCII"',
    '',
    'This is an email abuse report for an email message received from IP 192.0.2.1.',
    '',
    `--${boundary}`,
    'Content-Type: message/feedback-report',
    '',
    `Feedback-Type: ${o.feedbackType ?? 'abuse'}`,
    'User-Agent: SomeGenerator/1.0',
    'Version: 1',
    'Original-Mail-From: <b-something@bounce.test>',
    `Original-Rcpt-To: <${rcpt}>`,
    'Arrival-Date: Tue, 1 Dec 2026 10:05:00 +0000',
    'Source-IP: 192.0.2.1',
    'Reported-Domain: news.test',
    '',
    `--${boundary}`,
    'Content-Type: message/rfc822',
    'Content-Disposition: inline',
    '',
    'From: News <news@news.test>',
    `To: ${rcpt}`,
    'Subject: Hello',
    `Message-ID: <${o.originalMessageId}>`,
    '',
    'The newsletter.',
    '',
    `--${boundary}--`,
  ]);
}

export function outOfOfficeMail(to: string): string {
  return crlf([
    `From: Reader <${to}>`,
    'To: <bounces@bounce.test>',
    'Subject: Out of Office: Hello',
    'Auto-Submitted: auto-replied',
    'X-Autoreply: yes',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'I am out of the office until Monday and will read your message then.',
  ]);
}
