import type { Models, ServerClient } from 'postmark';
import { Type, type Static } from 'typebox';
import type { SendResult } from '../smtp-outcome.ts';
import type { OutgoingMessage } from '../transport.ts';
import { messageParts, type MessageParts } from '../esp/message-parts.ts';
import { bounced, chunks, deferred, parseProviderConfig, rejected, replyLine, sent, type ProviderTransport } from '../esp/results.ts';

/**
 * Postmark through its batch endpoint (POST /email/batch, at most 500 messages a call), with the
 * official `postmark` client (its requestHost and useHttps options point it elsewhere for tests).
 * Each message of a batch is its own message, so per-recipient links and headers survive batching.
 */
export const POSTMARK_BATCH_LIMIT = 500;

export const PostmarkConfig = Type.Object(
  {
    type: Type.Literal('postmark'),
    server_token: Type.String({ minLength: 1, maxLength: 256 }),
    message_stream: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,30}$', description: 'outbound (default) or a broadcast stream.' })),
    base_url: Type.Optional(Type.String({ pattern: '^https?://[^/]+/?$', maxLength: 2048, description: 'Endpoint override (tests).' })),
    webhook_username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Basic auth user of the webhook URL.' })),
    webhook_password: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
    webhook_token: Type.Optional(Type.String({ minLength: 16, maxLength: 256, description: 'Secret sent in the X-Webhook-Token header (a custom webhook header).' })),
  },
  { additionalProperties: false },
);
export type PostmarkConfig = Static<typeof PostmarkConfig>;
export const POSTMARK_SECRET_FIELDS = ['server_token', 'webhook_password', 'webhook_token'] as const;
export const parsePostmarkConfig = (input: unknown): PostmarkConfig => parseProviderConfig(PostmarkConfig, input, 'postmark');

/** The metadata key naming our message in Postmark's events. */
export const POSTMARK_MESSAGE_KEY = 'mailerdash_message_id';

/** Postmark's ErrorCode (in a batch result or an error body) as our outcome: the table in src/delivery/README.md. */
export function postmarkOutcome(status: number, code: number, message: string): SendResult {
  const reply = replyLine('postmark', status, code, message);
  if (code === 406) return bounced(reply); // inactive recipient: a hard bounce, complaint or manual suppression
  if (status === 0 || status === 429 || status >= 500 || code === 429 || code === 100) return deferred(reply);
  // bad token, account pending, may not send: this provider cannot send now, another may
  if (status === 401 || code === 10 || code === 405 || code === 412 || code === 413) return deferred(reply);
  if (code === 400 || code === 401) return rejected(reply, 'mail'); // sender signature missing or unconfirmed
  return rejected(reply);
}

function toPostmark(message: OutgoingMessage, parts: MessageParts, stream: string): Models.Message {
  const from = parts.from.name ? `"${parts.from.name.replace(/["\\]/g, '\\$&')}" <${parts.from.address}>` : parts.from.address;
  return {
    From: from,
    To: message.recipient,
    Cc: parts.cc.join(',') || undefined,
    ReplyTo: parts.replyTo ?? undefined,
    Subject: parts.subject,
    TextBody: parts.text ?? undefined,
    HtmlBody: parts.html ?? undefined,
    MessageStream: stream,
    // Opens and clicks are tracked by our own links.
    TrackOpens: false,
    TrackLinks: 'None' as Models.LinkTrackingOptions,
    Headers: Object.entries({ ...parts.sharedHeaders, ...parts.ownHeaders }).map(([Name, Value]) => ({ Name, Value })),
    Attachments: parts.attachments.map((a) => ({ Name: a.filename, Content: a.content.toString('base64'), ContentType: a.contentType, ContentID: a.contentId ? `cid:${a.contentId}` : null })),
    Metadata: { [POSTMARK_MESSAGE_KEY]: message.id },
  };
}

interface PostmarkFailure {
  statusCode?: number;
  code?: number;
  message?: string;
}

export function createPostmarkTransport(config: PostmarkConfig): ProviderTransport {
  const base = config.base_url ? new URL(config.base_url) : null;
  // The client loads on first use: processes that never send through Postmark never import it.
  let loading: Promise<ServerClient> | null = null;
  const ready = () => (loading ??= import('postmark').then(({ ServerClient }) => new ServerClient(config.server_token, base ? { useHttps: base.protocol === 'https:', requestHost: base.host, timeout: 30 } : { timeout: 30 })));
  const stream = config.message_stream ?? 'outbound';

  async function sendChunk(messages: OutgoingMessage[]): Promise<SendResult[]> {
    let bodies: Models.Message[];
    try {
      bodies = await Promise.all(messages.map(async (m) => toPostmark(m, await messageParts(m), stream)));
    } catch (error) {
      return messages.map(() => rejected(`postmark: the message could not be read back: ${(error as Error).message}`));
    }
    try {
      const answers = await (await ready()).sendEmailBatch(bodies);
      return messages.map((_, i) => {
        const answer = answers[i];
        if (!answer) return deferred('postmark 200 answered fewer results than messages', 'data');
        if (answer.ErrorCode === 0 && answer.MessageID) return sent(answer.MessageID, replyLine('postmark', 200, 0, `${answer.Message} ${answer.MessageID}`));
        return postmarkOutcome(200, answer.ErrorCode, answer.Message);
      });
    } catch (error) {
      const failure = error as PostmarkFailure;
      const outcome = postmarkOutcome(failure.statusCode ?? 0, failure.code ?? 0, failure.message ?? String(error));
      return messages.map(() => outcome);
    }
  }

  return {
    name: 'postmark',
    async send(message) {
      return (await sendChunk([message]))[0]!;
    },
    async sendBatch(messages) {
      const results: SendResult[] = [];
      for (const chunk of chunks(messages, POSTMARK_BATCH_LIMIT)) results.push(...(await sendChunk(chunk)));
      return results;
    },
    async check() {
      try {
        const server = await (await ready()).getServer();
        return { ok: true, detail: `postmark server ${server.ID} ${server.Name}` };
      } catch (error) {
        const failure = error as PostmarkFailure;
        return { ok: false, detail: replyLine('postmark', failure.statusCode, failure.code, failure.message) };
      }
    },
    async close() {},
  };
}
