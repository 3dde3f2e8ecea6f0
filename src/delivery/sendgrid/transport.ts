import type { Client } from '@sendgrid/client';
import { Type, type Static } from 'typebox';
import type { SendResult } from '../smtp-outcome.ts';
import type { OutgoingMessage } from '../transport.ts';
import { groupByContent, partedMessages, type PartedMessage } from '../esp/message-parts.ts';
import { bounced, CALLS_IN_FLIGHT, chunks, deferred, mapLimited, parseProviderConfig, rejected, replyLine, sent, type ProviderTransport } from '../esp/results.ts';

/**
 * SendGrid v3 /v3/mail/send through the official @sendgrid/client. One call carries up to 1,000
 * personalizations, but they share the content: so messages are grouped by equal content (subject,
 * parts, shared headers) and each group goes in calls of 1,000, each personalization with its own
 * List-Unsubscribe header and our message id as a custom arg. Messages whose bodies carry their
 * recipient's own links (tracking, unsubscribe footers) have content of their own: one call each.
 */
export const SENDGRID_PERSONALIZATIONS_LIMIT = 1000;

export const SendgridConfig = Type.Object(
  {
    type: Type.Literal('sendgrid'),
    api_key: Type.String({ minLength: 1, maxLength: 256 }),
    region: Type.Optional(Type.Union([Type.Literal('global'), Type.Literal('eu')], { description: 'eu: the EU data residency host api.eu.sendgrid.com.' })),
    base_url: Type.Optional(Type.String({ pattern: '^https?://[^/]+/?$', maxLength: 2048, description: 'Endpoint override (tests).' })),
    webhook_public_key: Type.Optional(Type.String({ minLength: 40, maxLength: 1024, description: 'The Signed Event Webhook verification key (base64 DER, P-256).' })),
  },
  { additionalProperties: false },
);
export type SendgridConfig = Static<typeof SendgridConfig>;
export const SENDGRID_SECRET_FIELDS = ['api_key'] as const;
export const parseSendgridConfig = (input: unknown): SendgridConfig => parseProviderConfig(SendgridConfig, input, 'sendgrid');

/** The custom arg naming our message in SendGrid's events. */
export const SENDGRID_MESSAGE_ARG = 'mailerdash_message_id';

interface SendgridErrorBody {
  errors?: Array<{ message?: string; field?: string | null }>;
}

/** A whole-call answer as our outcome (the table in src/delivery/README.md). */
export function sendgridOutcome(status: number, body: SendgridErrorBody | undefined): SendResult {
  const first = body?.errors?.[0];
  const reply = replyLine('sendgrid', status || undefined, first?.field ?? undefined, first?.message);
  if (status === 0 || status === 429 || status >= 500) return deferred(reply);
  // A key that is wrong, revoked or lacks mail.send, or a sender not verified: another provider may send it.
  if (status === 401 || status === 403) return deferred(reply);
  return rejected(reply);
}

/** The personalizations a 400 names as refused recipients (`personalizations.3.to.0.email`). */
export function refusedPersonalizations(body: SendgridErrorBody | undefined): Map<number, string> {
  const refused = new Map<number, string>();
  for (const error of body?.errors ?? []) {
    const match = /^personalizations\.(\d+)\.(to|cc|bcc)\b/.exec(error.field ?? '');
    if (match) refused.set(Number(match[1]), error.message ?? 'refused');
  }
  return refused;
}

type Item = PartedMessage;

function mailBody(group: Item[]) {
  const { parts } = group[0]!;
  const content = [
    ...(parts.text !== null ? [{ type: 'text/plain', value: parts.text }] : []),
    ...(parts.html !== null ? [{ type: 'text/html', value: parts.html }] : []),
  ];
  return {
    personalizations: group.map(({ message, parts: own }) => ({
      to: [{ email: message.recipient }],
      ...(own.cc.length ? { cc: own.cc.map((email) => ({ email })) } : {}),
      ...(Object.keys(own.ownHeaders).length ? { headers: own.ownHeaders } : {}),
      custom_args: { [SENDGRID_MESSAGE_ARG]: message.id },
    })),
    from: { email: parts.from.address, ...(parts.from.name ? { name: parts.from.name } : {}) },
    ...(parts.replyTo ? { reply_to: { email: parts.replyTo } } : {}),
    subject: parts.subject,
    content: content.length ? content : [{ type: 'text/plain', value: ' ' }],
    ...(Object.keys(parts.sharedHeaders).length ? { headers: parts.sharedHeaders } : {}),
    ...(parts.attachments.length
      ? { attachments: parts.attachments.map((a) => ({ content: a.content.toString('base64'), filename: a.filename, type: a.contentType, disposition: a.inline ? 'inline' : 'attachment', ...(a.contentId ? { content_id: a.contentId } : {}) })) }
      : {}),
    // Opens and clicks are tracked by our own links.
    tracking_settings: { click_tracking: { enable: false }, open_tracking: { enable: false }, subscription_tracking: { enable: false } },
  };
}

export function createSendgridTransport(config: SendgridConfig): ProviderTransport {
  // The client loads on first use: processes that never send through SendGrid never import it.
  let loading: Promise<Client> | null = null;
  const ready = () =>
    (loading ??= import('@sendgrid/client').then((module) => {
      const client = new (module as unknown as { Client: new () => Client }).Client();
      client.setApiKey(config.api_key);
      if (config.region === 'eu') client.setDataResidency('eu');
      if (config.base_url) client.setDefaultRequest('baseUrl', config.base_url.replace(/\/$/, ''));
      return client;
    }));

  /** One call for one group; a 400 naming some personalizations bounces those and sends the rest once more. */
  async function sendGroup(group: Item[], results: SendResult[], retried = false): Promise<number> {
    try {
      const [response] = await (await ready()).request({ method: 'POST', url: '/v3/mail/send', body: mailBody(group) });
      const headers = response.headers as Record<string, string | undefined>;
      const id = headers['x-message-id'] ?? '';
      for (const item of group) results[item.index] = id ? sent(id, `sendgrid ${response.statusCode} X-Message-Id ${id}`) : deferred(`sendgrid ${response.statusCode} without X-Message-Id`, 'data');
      return 1;
    } catch (error) {
      const failure = error as { code?: number; response?: { body?: SendgridErrorBody } };
      const status = typeof failure.code === 'number' ? failure.code : 0;
      const body = failure.response?.body;
      const refused = status === 400 ? refusedPersonalizations(body) : new Map<number, string>();
      if (refused.size && !retried) {
        group.forEach((item, i) => {
          if (refused.has(i)) results[item.index] = bounced(replyLine('sendgrid', 400, `personalizations.${i}`, refused.get(i)));
        });
        const rest = group.filter((_, i) => !refused.has(i));
        return 1 + (rest.length ? await sendGroup(rest, results, true) : 0);
      }
      const outcome = sendgridOutcome(status, body ?? { errors: [{ message: (error as Error).message }] });
      for (const item of group) results[item.index] = outcome;
      return 1;
    }
  }

  async function sendBatch(messages: OutgoingMessage[]): Promise<SendResult[]> {
    const results = new Array<SendResult>(messages.length);
    const items = await partedMessages('sendgrid', messages, results);
    const calls = groupByContent(items).flatMap((group) => chunks(group, SENDGRID_PERSONALIZATIONS_LIMIT));
    await mapLimited(calls, CALLS_IN_FLIGHT, (group) => sendGroup(group, results));
    return results;
  }

  return {
    name: 'sendgrid',
    async send(message) {
      return (await sendBatch([message]))[0]!;
    },
    sendBatch,
    async check() {
      try {
        const [response, body] = await (await ready()).request({ method: 'GET', url: '/v3/scopes' });
        const scopes = (body as { scopes?: string[] }).scopes ?? [];
        return { ok: true, detail: `sendgrid ${response.statusCode}: ${scopes.length} scopes${scopes.includes('mail.send') ? ', mail.send among them' : ', mail.send missing'}` };
      } catch (error) {
        const failure = error as { code?: number; response?: { body?: SendgridErrorBody } };
        return { ok: false, detail: sendgridOutcome(typeof failure.code === 'number' ? failure.code : 0, failure.response?.body).reply };
      }
    },
    async close() {},
  };
}
