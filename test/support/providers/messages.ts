import type { OutgoingMessage } from '../../../src/delivery/transport.ts';

/**
 * Messages as our composer writes them: per-message To, Message-ID and List-Unsubscribe, and a body
 * that is shared (`shared: true`) or carries the recipient's own link.
 */
export function providerMessage(id: string, recipient: string, options: { shared?: boolean; subject?: string } = {}): OutgoingMessage {
  const link = options.shared ? 'https://example.test/news' : `https://t.example.test/c/${id}`;
  const raw = [
    'From: "News Desk" <news@example.test>',
    `To: ${recipient}`,
    `Subject: ${options.subject ?? 'Weekly news'}`,
    'Date: Tue, 01 Dec 2026 23:00:00 +0000',
    `Message-ID: <${id}@mta.test>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="b1"',
    'X-Md-Channel: bulk',
    `List-Unsubscribe: <https://u.example.test/u/${id}>, <mailto:u+${id}@bounce.test>`,
    'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Read it at ${link}`,
    '--b1',
    'Content-Type: text/html; charset=utf-8',
    '',
    `<p>Read it <a href="${link}">here</a></p>`,
    '--b1--',
    '',
  ].join('\r\n');
  return { id, envelopeFrom: `b-${id}@bounce.test`, recipient, raw: Buffer.from(raw) };
}
