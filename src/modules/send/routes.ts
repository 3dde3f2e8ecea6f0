import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { decodeBase64Fields, decodedBase64 } from '../../http/base64-body.ts';
import { errorResponses } from '../../http/errors.ts';
import { ATTACHMENT_PART_BYTES } from '../../delivery/mime-encoding.ts';
import { respondIdempotently } from '../idempotency/route.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import { Accepted, SandboxAccepted, SendBody, SendHeaders } from './schemas.ts';
import type { SendService } from './service.ts';

const DESCRIPTION = `Accepts a SendGrid v3 mail/send request (\`/v3/mail/send\` is the same handler, so SendGrid's
clients work by changing their base URL). **202** means the request passed validation and its messages are
committed to the queue; \`X-Message-Id\` names the request (filter \`GET /v1/messages?request_id=\`).

Every address in \`to\`, \`cc\` and \`bcc\` gets a message of its own (its own \`msg_…\`, status and events). Every copy
of a personalization shows that personalization's \`to\` list in its To header and its \`cc\` list in its Cc
header; \`bcc\` recipients get the same copy and never appear in any header.

Validation, before anything is queued; any failure rejects the whole request with 400 naming each failing
field: limits (1,000 personalizations, 1,000 recipients in total, one address at most once across to/cc/bcc of
a personalization), syntax (RFC 5321, internationalised domains accepted), disposable domains (code
\`disposable_domain\`, subdomains included), and MX (code \`no_mx\`: the domain does not exist, has a null MX, or
has neither MX nor A/AAAA; answers cached 24 h; a DNS timeout never rejects). \`from\` must be on one of the key's
verified domains (403 \`from_domain_not_verified\`).

\`mail_settings.sandbox_mode.enable: true\` validates everything, queues nothing and answers **200**
\`{"message":"validated","app":…,"sandbox":true}\` (SendGrid answers 200 in sandbox mode too).
\`send_at\` (unix seconds) delays the messages (at most 72 h). \`dynamic_template_data\` makes subject and
bodies Liquid templates rendered with it; \`substitutions\` are literal replacements.
\`template_id\` takes subject and bodies from one of the key's templates (\`/v1/bulk/templates\`), rendered
as Liquid with each personalization's \`dynamic_template_data\`; a top-level \`subject\` overrides the template's.
\`X-Md-Channel: bulk\` queues behind transactional mail. \`Idempotency-Key\`: a retry with the same key and
payload within 24 h answers the first response (with \`Idempotent-Replayed: true\`) and queues nothing;
another payload 422; while the first is still running 409.`;

export const sendRoutes: FastifyPluginAsyncTypebox<{ send: SendService; idempotency: IdempotencyService }> = async (app, { send, idempotency }) => {
  // Attachments are decoded while the body streams in, in the parts they are stored in (issue 15).
  decodeBase64Fields(app, { array: 'attachments', field: 'content', pieceBytes: ATTACHMENT_PART_BYTES });
  for (const url of ['/v1/mail/send', '/v3/mail/send']) {
    app.post(
      url,
      {
        schema: {
          tags: ['mail'],
          summary: url.startsWith('/v3') ? 'Send mail (SendGrid v3 path)' : 'Send transactional mail',
          description: DESCRIPTION,
          headers: SendHeaders,
          body: SendBody,
          response: { 200: SandboxAccepted, 202: Accepted, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
        },
      },
      async (request, reply) => {
        const channel = request.headers['x-md-channel'] ?? 'trans';
        return respondIdempotently(
          request,
          reply,
          { idempotency, operation: 'mail.send', payload: { channel, body: request.body } },
          async (claim) => (await send.send(request.principal, request.body, { channel, claim, decoded: decodedBase64(request) })).response,
        );
      },
    );
  }
};
