import type Mailgun from 'mailgun.js';

type MailgunClient = ReturnType<Mailgun['client']>;
import { Type, type Static } from 'typebox';
import type { SendResult } from '../smtp-outcome.ts';
import type { OutgoingMessage } from '../transport.ts';
import { groupByContent, partedMessages, type PartedMessage } from '../esp/message-parts.ts';
import { bounced, CALLS_IN_FLIGHT, chunks, deferred, mapLimited, parseProviderConfig, rejected, replyLine, sent, type ProviderTransport } from '../esp/results.ts';

/**
 * Mailgun's messages API through the official mailgun.js (its `url` option picks the US or EU
 * host, or a test server). A message alone goes as raw MIME (/messages.mime: our DKIM, headers and
 * links stay as they are). Messages of equal content go as one batch (/messages) of up to 1,000
 * `to` with `recipient-variables`, each recipient's List-Unsubscribe and message id substituted
 * from its variables (Mailgun then sends each recipient a message of its own).
 */
export const MAILGUN_BATCH_LIMIT = 1000;
export const MAILGUN_HOSTS = { us: 'https://api.mailgun.net', eu: 'https://api.eu.mailgun.net' } as const;

export const MailgunConfig = Type.Object(
  {
    type: Type.Literal('mailgun'),
    api_key: Type.String({ minLength: 1, maxLength: 256 }),
    domain: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$', maxLength: 253, description: 'The Mailgun sending domain.' }),
    region: Type.Optional(Type.Union([Type.Literal('us'), Type.Literal('eu')], { description: 'us (api.mailgun.net, default) or eu (api.eu.mailgun.net).' })),
    base_url: Type.Optional(Type.String({ pattern: '^https?://[^/]+/?$', maxLength: 2048, description: 'Endpoint override (tests).' })),
    webhook_signing_key: Type.Optional(Type.String({ minLength: 16, maxLength: 256, description: 'The HTTP webhook signing key of the account.' })),
  },
  { additionalProperties: false },
);
export type MailgunConfig = Static<typeof MailgunConfig>;
export const MAILGUN_SECRET_FIELDS = ['api_key', 'webhook_signing_key'] as const;
export const parseMailgunConfig = (input: unknown): MailgunConfig => parseProviderConfig(MailgunConfig, input, 'mailgun');

/** The user variable naming our message in Mailgun's events (event-data.user-variables). */
export const MAILGUN_MESSAGE_VARIABLE = 'mailerdash_message_id';

/** Mailgun's answer as our outcome: the table in src/delivery/README.md. `single`: the call had one recipient. */
export function mailgunOutcome(status: number, message: string, single: boolean): SendResult {
  const reply = replyLine('mailgun', status || undefined, undefined, message);
  if (!status || status === 429 || status >= 500) return deferred(reply);
  // Wrong key (401 Forbidden), a domain the key does not own (403, 404): another provider may send it.
  if (status === 401 || status === 403 || status === 404) return deferred(reply);
  if (status === 400 && single && /'to' parameter|not a valid address|recipient/i.test(message)) return bounced(reply);
  return rejected(reply);
}

type Item = PartedMessage;

const headerVariable = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '_');

function batchData(group: Item[]): Record<string, unknown> {
  const { parts } = group[0]!;
  const variables: Record<string, Record<string, string>> = {};
  for (const { message, parts: own } of group) {
    variables[message.recipient] = { message_id: message.id, ...Object.fromEntries(Object.entries(own.ownHeaders).map(([name, value]) => [headerVariable(name), value])) };
  }
  const data: Record<string, unknown> = {
    from: parts.from.name ? `"${parts.from.name.replace(/["\\]/g, '\\$&')}" <${parts.from.address}>` : parts.from.address,
    to: group.map((item) => item.message.recipient),
    subject: parts.subject,
    'recipient-variables': JSON.stringify(variables),
    [`v:${MAILGUN_MESSAGE_VARIABLE}`]: '%recipient.message_id%',
    'o:tracking': 'no',
  };
  if (parts.text !== null) data.text = parts.text;
  if (parts.html !== null) data.html = parts.html;
  if (parts.cc.length) data.cc = parts.cc.join(',');
  if (parts.replyTo) data['h:Reply-To'] = parts.replyTo;
  for (const [name, value] of Object.entries(parts.sharedHeaders)) data[`h:${name}`] = value;
  for (const name of Object.keys(parts.ownHeaders)) data[`h:${name}`] = `%recipient.${headerVariable(name)}%`;
  const attachments = parts.attachments.filter((a) => !a.inline).map((a) => ({ filename: a.filename, data: a.content, contentType: a.contentType }));
  const inline = parts.attachments.filter((a) => a.inline).map((a) => ({ filename: a.contentId ?? a.filename, data: a.content, contentType: a.contentType }));
  if (attachments.length) data.attachment = attachments;
  if (inline.length) data.inline = inline;
  return data;
}

interface MailgunFailure {
  status?: number;
  details?: string;
  message?: string;
}

/** The API host of the account's region, unless overridden. */
export const mailgunBaseUrl = (config: MailgunConfig) => (config.base_url ?? MAILGUN_HOSTS[config.region ?? 'us']).replace(/\/$/, '');

export function createMailgunTransport(config: MailgunConfig): ProviderTransport {
  const url = mailgunBaseUrl(config);
  // The client loads on first use: processes that never send through Mailgun never import it.
  let loading: Promise<MailgunClient> | null = null;
  const ready = () => (loading ??= import('mailgun.js').then(({ default: MailgunClass }) => new MailgunClass(FormData).client({ username: 'api', key: config.api_key, url, timeout: 30_000 })));

  const failureOf = (error: unknown, single: boolean) => {
    const failure = error as MailgunFailure;
    return mailgunOutcome(failure.status ?? 0, failure.details || failure.message || String(error), single);
  };

  async function sendMime(item: Item, results: SendResult[]): Promise<void> {
    try {
      const answer = await (await ready()).messages.create(config.domain, { to: item.message.recipient, message: item.message.raw, [`v:${MAILGUN_MESSAGE_VARIABLE}`]: item.message.id });
      results[item.index] = answer.id ? sent(answer.id, replyLine('mailgun', answer.status, undefined, `${answer.message} ${answer.id}`)) : deferred('mailgun answered without an id', 'data');
    } catch (error) {
      results[item.index] = failureOf(error, true);
    }
  }

  async function sendGroup(group: Item[], results: SendResult[]): Promise<void> {
    if (group.length === 1) return sendMime(group[0]!, results);
    try {
      const answer = await (await ready()).messages.create(config.domain, batchData(group) as never);
      for (const item of group) results[item.index] = answer.id ? sent(answer.id, replyLine('mailgun', answer.status, undefined, `${answer.message} ${answer.id}`)) : deferred('mailgun answered without an id', 'data');
    } catch (error) {
      const outcome = failureOf(error, false);
      // A 400 for a batch does not say which recipient: each goes alone, so only that one bounces.
      if ((error as MailgunFailure).status === 400) await mapLimited(group, CALLS_IN_FLIGHT, (item) => sendMime(item, results));
      else for (const item of group) results[item.index] = outcome;
    }
  }

  async function sendBatch(messages: OutgoingMessage[]): Promise<SendResult[]> {
    const results = new Array<SendResult>(messages.length);
    const items = await partedMessages('mailgun', messages, results);
    const calls: Item[][] = [];
    for (const group of groupByContent(items)) {
      // recipient-variables are keyed by address: a second message to the same address goes alone.
      const seen = new Set<string>();
      const first = group.filter((item) => !seen.has(item.message.recipient) && seen.add(item.message.recipient));
      calls.push(...chunks(first, MAILGUN_BATCH_LIMIT), ...group.filter((item) => !first.includes(item)).map((item) => [item]));
    }
    await mapLimited(calls, CALLS_IN_FLIGHT, (group) => sendGroup(group, results));
    return results;
  }

  return {
    name: 'mailgun',
    async send(message) {
      return (await sendBatch([message]))[0]!;
    },
    sendBatch,
    async check() {
      try {
        const domain = await (await ready()).domains.get(config.domain);
        return { ok: true, detail: `mailgun ${config.region ?? 'us'} domain ${domain.name}: ${domain.state}` };
      } catch (error) {
        return { ok: false, detail: failureOf(error, false).reply };
      }
    },
    async close() {},
  };
}
