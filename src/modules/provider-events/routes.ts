import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../http/errors.ts';
import type { ProviderType } from '../../delivery/provider-types.ts';
import type { ProviderEventsService } from './service.ts';

const tags = ['provider events'];
const EVENTS_BODY_LIMIT = 8 * 1024 * 1024;

const how: Record<ProviderType, string> = {
  ses: 'An SNS subscription (HTTPS) to the topic of the configuration set\'s event destination. The envelope is verified against its signing certificate, fetched only from the SNS host pattern (MAILERDASH_SNS_CERT_URL_PATTERN); a SubscriptionConfirmation is confirmed; a MessageId seen before is answered 200 and changes nothing.',
  sendgrid: 'The Signed Event Webhook: X-Twilio-Email-Event-Webhook-Signature (ECDSA P-256) over the timestamp header and the raw body, under the provider\'s webhook_public_key; a timestamp more than an hour away, or a signature seen before, is refused.',
  mailgun: 'Mailgun webhooks: the HMAC-SHA256 signature of timestamp + token under webhook_signing_key; a token seen before (in any process: kept in the database) or a timestamp more than an hour away is refused.',
  postmark: 'Postmark webhooks, with basic auth in the URL (webhook_username, webhook_password) or a custom header X-Webhook-Token (webhook_token). The same body twice is taken once.',
};

/** The providers' event webhooks: unauthenticated by API key, each verified the way its provider signs. */
export const providerEventsRoutes: FastifyPluginAsyncTypebox<{ events: ProviderEventsService }> = async (app, { events }) => {
  // The signatures cover the body as sent; SNS posts JSON as text/plain.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string', bodyLimit: EVENTS_BODY_LIMIT }, (_request, body, done) => done(null, body));
  for (const type of ['ses', 'sendgrid', 'mailgun', 'postmark'] as const) {
    app.post(
      `/v1/events/${type}/:provider`,
      {
        schema: {
          tags,
          summary: `Take in ${type} delivery, bounce, complaint, open, click and unsubscribe events`,
          description: `${how[type]} Each event becomes feedback on its message, contact, suppressions, sequences, statistics and webhook events. An unverifiable post is a 401 and changes nothing.`,
          params: Type.Object({ provider: Type.String({ maxLength: 100, description: 'A per-key provider\'s id (prv_…), or the name of an operator provider (MAILERDASH_PROVIDERS).' }) }),
          body: Type.String({ maxLength: EVENTS_BODY_LIMIT }),
          response: {
            200: Type.Object({ received: Type.Integer({ description: 'Feedback reports taken from the post.' }), duplicate: Type.Optional(Type.Boolean()), confirmed: Type.Optional(Type.Boolean()) }),
            ...errorResponses(400, 401, 404, 413, 415, 503),
          },
        },
      },
      async (request) => events.receive(type, request.params.provider, { headers: request.headers, rawBody: request.body }),
    );
  }
};
