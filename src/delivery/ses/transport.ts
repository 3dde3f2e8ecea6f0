import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { Type, type Static } from 'typebox';
import type { SendResult } from '../smtp-outcome.ts';
import type { OutgoingMessage } from '../transport.ts';
import { bounced, deferred, parseProviderConfig, rejected, replyLine, sent, type ProviderTransport } from '../esp/results.ts';

/**
 * Amazon SES through the v2 API: SendEmail with the raw MIME, so our DKIM signature, List-Unsubscribe
 * and tracking links go out untouched. SES has no batch call for raw messages (SendBulkEmail takes
 * only templates), so it is one call per message, many in flight.
 */
export const SesConfig = Type.Object(
  {
    type: Type.Literal('ses'),
    region: Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-\\d$', description: 'The SES region, e.g. eu-west-1: its endpoint is email.<region>.amazonaws.com.' }),
    access_key_id: Type.String({ minLength: 16, maxLength: 128 }),
    secret_access_key: Type.String({ minLength: 1, maxLength: 256 }),
    session_token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    configuration_set: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Configuration set whose event destination is our SNS topic.' })),
    base_url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048, description: 'Endpoint override (tests, VPC endpoints).' })),
    sns_topic_arn: Type.Optional(Type.String({ pattern: '^arn:aws[a-z-]*:sns:', maxLength: 256, description: 'When set, only this topic\'s notifications are taken in.' })),
  },
  { additionalProperties: false },
);
export type SesConfig = Static<typeof SesConfig>;
export const SES_SECRET_FIELDS = ['secret_access_key', 'session_token'] as const;

export const parseSesConfig = (input: unknown): SesConfig => parseProviderConfig(SesConfig, input, 'ses');

/** The tag SES hands back in every event of the message, naming our message. */
export const SES_MESSAGE_TAG = 'mailerdash_message_id';

interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const THROTTLED = new Set(['TooManyRequestsException', 'LimitExceededException', 'ThrottlingException', 'Throttling']);
/** The account or credentials cannot send now: another provider may. */
const CANNOT_SEND = new Set([
  'UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'AccessDeniedException', 'ExpiredTokenException',
  'InvalidClientTokenId', 'MissingAuthenticationTokenException', 'AccountSuspendedException', 'SendingPausedException', 'NotFoundException',
]);

/** SES v2 errors as our outcomes (pure: the table in src/delivery/README.md). */
export function sesOutcome(error: AwsError): SendResult {
  const status = error.$metadata?.httpStatusCode;
  const reply = replyLine('ses', status, error.name, error.message);
  if (error.name && THROTTLED.has(error.name)) return deferred(reply);
  if (error.name && CANNOT_SEND.has(error.name)) return deferred(reply);
  if (status === undefined || status === 429 || status >= 500) return deferred(reply);
  // MessageRejected: SES refused this message for this recipient (e.g. an unverified recipient in the sandbox).
  if (error.name === 'MessageRejected') return bounced(reply);
  if (error.name === 'MailFromDomainNotVerifiedException') return rejected(reply, 'mail');
  return rejected(reply);
}

export function createSesTransport(config: SesConfig, deps: { maxAttempts?: number } = {}): ProviderTransport {
  // The SDK loads on first use: processes that never send through SES never pay for importing it.
  let loading: Promise<{ client: SESv2Client; sdk: typeof import('@aws-sdk/client-sesv2') }> | null = null;
  const ready = () =>
    (loading ??= import('@aws-sdk/client-sesv2').then((sdk) => ({
      sdk,
      client: new sdk.SESv2Client({
        region: config.region,
        endpoint: config.base_url,
        credentials: { accessKeyId: config.access_key_id, secretAccessKey: config.secret_access_key, sessionToken: config.session_token },
        // Retries belong to our queue (and to failover): a throttled message is deferred, not slept on.
        maxAttempts: deps.maxAttempts ?? 1,
      }),
    })));
  return {
    name: 'ses',
    async send(message: OutgoingMessage): Promise<SendResult> {
      try {
        const { client, sdk } = await ready();
        const answer = await client.send(
          new sdk.SendEmailCommand({
            Content: { Raw: { Data: message.raw } },
            Destination: { ToAddresses: [message.recipient] },
            EmailTags: [{ Name: SES_MESSAGE_TAG, Value: message.id.replace(/[^A-Za-z0-9_-]/g, '_') }],
            ConfigurationSetName: config.configuration_set,
          }),
        );
        if (!answer.MessageId) return deferred('ses 200 answered without a MessageId', 'data');
        return sent(answer.MessageId, `ses 200 MessageId ${answer.MessageId}`);
      } catch (error) {
        return sesOutcome(error as AwsError);
      }
    },
    async check() {
      try {
        const { client, sdk } = await ready();
        const account = await client.send(new sdk.GetAccountCommand({}));
        const quota = account.SendQuota;
        return { ok: true, detail: `ses ${config.region}: sending ${account.SendingEnabled ? 'enabled' : 'disabled'}, ${quota?.SentLast24Hours ?? 0}/${quota?.Max24HourSend ?? '?'} in 24 h, ${quota?.MaxSendRate ?? '?'}/s` };
      } catch (error) {
        return { ok: false, detail: sesOutcome(error as AwsError).reply };
      }
    },
    async close() {
      if (loading) (await loading).client.destroy();
    },
  };
}
