import { randomUUID } from 'node:crypto';
import { startFakeHttp } from './fake-http.ts';

/**
 * Postmark on loopback: POST /email/batch (at most 500; one result per message, in order, HTTP 200
 * even when some failed) and GET /server, authenticated by X-Postmark-Server-Token. Bodies and
 * codes as Postmark documents them: 10 bad token (401), 406 inactive recipient, 410 too many
 * batch messages (422), 429 rate limit (429).
 */
export async function startPostmarkFake(options: { tokens: Set<string>; inactive?: Set<string>; record?: boolean }) {
  const state = { throttle: false, calls: 0 };
  const sent: Array<Record<string, unknown> & { MessageID: string }> = [];
  const server = await startFakeHttp(
    (request) => {
      state.calls++;
      const token = String(request.headers['x-postmark-server-token'] ?? '');
      if (request.headers.accept !== 'application/json') return { status: 422, body: { ErrorCode: 409, Message: 'JSON required.' } };
      if (!options.tokens.has(token)) {
        return { status: 401, body: { ErrorCode: 10, Message: 'The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token.' } };
      }
      if (request.method === 'GET' && request.path === '/server') return { status: 200, body: { ID: 1, Name: 'Fake Server', ApiTokens: [token], Color: 'blue', DeliveryType: 'Live' } };
      if (request.method !== 'POST' || request.path !== '/email/batch') return { status: 404, body: { ErrorCode: 404, Message: 'not found' } };
      if (state.throttle) return { status: 429, body: { ErrorCode: 429, Message: 'Rate limit exceeded' } };
      let messages: Array<Record<string, unknown>>;
      try {
        messages = JSON.parse(request.body.toString('utf8'));
      } catch {
        return { status: 422, body: { ErrorCode: 402, Message: 'Received invalid JSON input.' } };
      }
      if (!Array.isArray(messages)) return { status: 422, body: { ErrorCode: 403, Message: 'Incompatible JSON input.' } };
      if (messages.length > 500) return { status: 422, body: { ErrorCode: 410, Message: 'Too many batch messages. You can only send up to 500 messages in a batch.' } };
      const at = new Date().toISOString();
      return {
        status: 200,
        body: messages.map((message) => {
          const to = String(message.To ?? '');
          if (!message.From || (!message.TextBody && !message.HtmlBody)) return { ErrorCode: 300, Message: 'Provide either email TextBody or HtmlBody or both.' };
          if (options.inactive?.has(to)) {
            return { ErrorCode: 406, Message: `You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ${to}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.` };
          }
          const MessageID = randomUUID();
          sent.push({ ...message, MessageID });
          return { To: to, SubmittedAt: at, MessageID, ErrorCode: 0, Message: 'OK' };
        }),
      };
    },
    { record: options.record ?? false },
  );
  return { ...server, sent, state };
}
