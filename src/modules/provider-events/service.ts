import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { DomainError, invalid, notFound } from '../../errors.ts';
import type { ProviderType } from '../../delivery/provider-types.ts';
import type { MailgunConfig } from '../../delivery/mailgun/transport.ts';
import type { PostmarkConfig } from '../../delivery/postmark/transport.ts';
import type { SendgridConfig } from '../../delivery/sendgrid/transport.ts';
import type { SesConfig } from '../../delivery/ses/transport.ts';
import type { OpenedProvider } from '../providers/service.ts';
import { recordEventToken } from '../providers/repo.ts';
import type { ApplyFeedback, FeedbackReport } from './feedback.ts';
import { providerIdCandidates } from './provider-ids.ts';
import { messageByProviderId } from './repo.ts';
import { parseMailgunEvent } from './mailgun-events.ts';
import { parsePostmarkEvent } from './postmark-events.ts';
import { parseSendgridEvents } from './sendgrid-events.ts';
import { parseSesEvent } from './ses-events.ts';
import { mailgunSignatureValid, sameSecret, sendgridSignatureValid, snsSignatureValid, type SnsEnvelope } from './signatures.ts';
import { createHash } from 'node:crypto';

/** How far a signed post's timestamp may be from now; its token is remembered twice as long. */
export const EVENT_WINDOW_MS = 60 * 60_000;

export interface ProviderEventsDeps {
  db: Kysely<DB>;
  /** Per-key providers by id, and operator providers (MAILERDASH_PROVIDERS) by name. */
  providers: { forEvents(id: string): Promise<OpenedProvider | null> };
  applyFeedback: ApplyFeedback;
  /** SigningCertURL and SubscribeURL must match it (MAILERDASH_SNS_CERT_URL_PATTERN). */
  snsUrlPattern: RegExp;
  fetch?: typeof fetch;
  now?: () => Date;
}

export interface EventPost {
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
}

export interface EventOutcome {
  received: number;
  duplicate?: boolean;
  confirmed?: boolean;
}

const unverified = (why: string) => new DomainError('unauthorized', 'event_signature_invalid', `the event post could not be verified: ${why}`);
const header = (post: EventPost, name: string) => {
  const value = post.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

function json(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw unverified('the body is not JSON');
  }
}

export type ProviderEventsService = ReturnType<typeof createProviderEventsService>;

export function createProviderEventsService(deps: ProviderEventsDeps) {
  const clock = deps.now ?? (() => new Date());
  const fetcher = deps.fetch ?? fetch;
  const certificates = new Map<string, Promise<string>>();

  const withinWindow = (at: number, now: Date) => Number.isFinite(at) && Math.abs(now.getTime() - at) <= EVENT_WINDOW_MS;

  async function certificate(url: string): Promise<string> {
    let pending = certificates.get(url);
    if (!pending) {
      pending = fetcher(url, { redirect: 'error', signal: AbortSignal.timeout(5_000) }).then(async (response) => {
        if (!response.ok) throw new Error(`certificate answered ${response.status}`);
        return response.text();
      });
      pending.catch(() => certificates.delete(url));
      if (certificates.size > 100) certificates.clear();
      certificates.set(url, pending);
    }
    return pending;
  }

  /** Verifies and parses one post; returns its reports and the token that makes it unique. */
  async function verified(provider: OpenedProvider, post: EventPost, now: Date): Promise<{ reports: FeedbackReport[]; token: string; replay: 'refuse' | 'ignore'; confirm?: string }> {
    const { config } = provider;
    switch (config.type) {
      case 'ses': {
        const envelope = json(post.rawBody) as SnsEnvelope;
        const fields = ['Type', 'MessageId', 'TopicArn', 'Message', 'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL'] as const;
        if (!envelope || typeof envelope !== 'object' || fields.some((f) => typeof envelope[f] !== 'string')) throw unverified('not an SNS envelope');
        if (!deps.snsUrlPattern.test(envelope.SigningCertURL) || !/\.pem$/.test(new URL(envelope.SigningCertURL).pathname)) throw unverified('SigningCertURL is not an SNS certificate URL');
        const sesConfig = config as SesConfig;
        if (sesConfig.sns_topic_arn && envelope.TopicArn !== sesConfig.sns_topic_arn) throw unverified('TopicArn is not the configured topic');
        let pem: string;
        try {
          pem = await certificate(envelope.SigningCertURL);
        } catch (error) {
          throw new DomainError('unavailable', 'sns_certificate_unavailable', `the SNS signing certificate could not be fetched: ${(error as Error).message}`);
        }
        if (!snsSignatureValid(envelope, pem)) throw unverified('the SNS signature does not match');
        if (!withinWindow(Date.parse(envelope.Timestamp), now)) throw unverified('the SNS Timestamp is outside the accepted window');
        if (envelope.Type === 'SubscriptionConfirmation') {
          if (!envelope.SubscribeURL || !deps.snsUrlPattern.test(envelope.SubscribeURL)) throw unverified('SubscribeURL is not an SNS URL');
          return { reports: [], token: envelope.MessageId, replay: 'ignore', confirm: envelope.SubscribeURL };
        }
        if (envelope.Type !== 'Notification') return { reports: [], token: envelope.MessageId, replay: 'ignore' };
        let message: unknown;
        try {
          message = JSON.parse(envelope.Message);
        } catch {
          throw invalid('invalid_sns_message', 'the SNS Message is not an SES event (JSON)');
        }
        return { reports: parseSesEvent(message, provider.keyId ?? undefined), token: envelope.MessageId, replay: 'ignore' };
      }
      case 'sendgrid': {
        const key = (config as SendgridConfig).webhook_public_key;
        const signature = header(post, 'x-twilio-email-event-webhook-signature');
        const timestamp = header(post, 'x-twilio-email-event-webhook-timestamp');
        if (!key) throw unverified('no webhook_public_key is configured for this provider');
        if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) throw unverified('the signature headers are missing');
        if (!sendgridSignatureValid(key, timestamp, post.rawBody, signature)) throw unverified('the ECDSA signature does not match');
        if (!withinWindow(Number(timestamp) * 1000, now)) throw unverified('the timestamp is outside the accepted window');
        return { reports: parseSendgridEvents(json(post.rawBody), provider.keyId ?? undefined), token: `sig:${signature}`, replay: 'refuse' };
      }
      case 'mailgun': {
        const key = (config as MailgunConfig).webhook_signing_key;
        const body = json(post.rawBody) as { signature?: { timestamp?: unknown; token?: unknown; signature?: unknown } };
        const { timestamp, token, signature } = body?.signature ?? {};
        if (!key) throw unverified('no webhook_signing_key is configured for this provider');
        if (typeof timestamp !== 'string' || typeof token !== 'string' || typeof signature !== 'string' || !/^\d{1,12}$/.test(timestamp)) throw unverified('the signature object is missing');
        if (!mailgunSignatureValid(key, timestamp, token, signature)) throw unverified('the HMAC signature does not match');
        if (!withinWindow(Number(timestamp) * 1000, now)) throw unverified('the timestamp is outside the accepted window');
        return { reports: parseMailgunEvent(body, provider.keyId ?? undefined), token: `token:${token}`, replay: 'refuse' };
      }
      case 'postmark': {
        const { webhook_username, webhook_password, webhook_token } = config as PostmarkConfig;
        const basic = /^Basic\s+(\S+)$/i.exec(header(post, 'authorization') ?? '')?.[1];
        const given = basic ? Buffer.from(basic, 'base64').toString('utf8') : null;
        const byBasic = Boolean(webhook_username && webhook_password && given !== null && sameSecret(given, `${webhook_username}:${webhook_password}`));
        const byToken = Boolean(webhook_token && sameSecret(header(post, 'x-webhook-token') ?? '', webhook_token));
        if (!webhook_token && !(webhook_username && webhook_password)) throw unverified('no webhook credentials are configured for this provider');
        if (!byBasic && !byToken) throw unverified('the basic auth or X-Webhook-Token does not match');
        // Postmark signs nothing: the same body twice is the same event twice.
        return { reports: parsePostmarkEvent(json(post.rawBody), provider.keyId ?? undefined), token: `body:${createHash('sha256').update(post.rawBody).digest('base64url')}`, replay: 'ignore' };
      }
    }
  }

  /** A report that names no message of ours is matched by the provider's own message id, if it gives one. */
  async function matched(db: Kysely<DB>, provider: OpenedProvider, report: FeedbackReport): Promise<FeedbackReport> {
    const providerMessageId = report.detail?.provider_message_id;
    if (report.messageId || typeof providerMessageId !== 'string') return report;
    const scope = { keyId: provider.keyId, provider: provider.name };
    const messageId = await messageByProviderId(db, scope, providerIdCandidates(provider.config.type, providerMessageId), report.recipient);
    return messageId ? { ...report, messageId } : report;
  }

  return {
    /** Verifies a provider's event post, then hands its feedback to the effects path with its token, in one transaction. */
    async receive(type: ProviderType, providerId: string, post: EventPost): Promise<EventOutcome> {
      const provider = await deps.providers.forEvents(providerId);
      if (!provider || provider.config.type !== type) throw notFound('provider');
      const now = clock();
      const { reports, token, replay, confirm } = await verified(provider, post, now);
      if (confirm) {
        const answer = await fetcher(confirm, { redirect: 'error', signal: AbortSignal.timeout(5_000) }).catch((error: Error) => ({ ok: false, status: error.message }));
        if (!answer.ok) throw new DomainError('unavailable', 'sns_confirmation_failed', `confirming the subscription failed (${answer.status})`);
        return { received: 0, confirmed: true };
      }
      const fresh = await deps.db.transaction().execute(async (trx) => {
        if (!(await recordEventToken(trx, provider.id, token, now, EVENT_WINDOW_MS))) return false;
        if (!reports.length) return true;
        const resolved: FeedbackReport[] = [];
        for (const report of reports) resolved.push(await matched(trx, provider, report));
        await deps.applyFeedback(trx, resolved, now);
        return true;
      });
      if (!fresh && replay === 'refuse') throw unverified('this post was received already (a replay)');
      return fresh ? { received: reports.length } : { received: 0, duplicate: true };
    },
  };
}
