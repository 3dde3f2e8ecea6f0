import { randomBytes } from 'node:crypto';
import { startFakeHttp } from './fake-http.ts';

type Personalization = { to?: Array<{ email?: string }>; headers?: Record<string, string>; custom_args?: Record<string, string> };
export interface SendgridMail {
  personalizations: Personalization[];
  from: { email: string; name?: string };
  subject: string;
  content: Array<{ type: string; value: string }>;
  headers?: Record<string, string>;
}

/**
 * SendGrid v3 on loopback: POST /v3/mail/send (202, X-Message-Id; at most 1,000 personalizations)
 * and GET /v3/scopes, authenticated by `Authorization: Bearer <api key>`. Errors as SendGrid writes
 * them: {"errors":[{"message","field","help"}]} with 400, 401, 413 and 429.
 */
export async function startSendgridFake(options: { keys: Set<string>; invalid?: Set<string>; record?: boolean }) {
  const state = { throttle: false, calls: 0 };
  const accepted: Array<{ messageId: string; mail: SendgridMail }> = [];
  const error = (status: number, message: string, field: string | null = null) => ({ status, body: { errors: [{ message, field, help: null }] } });
  const server = await startFakeHttp(
    (request) => {
      state.calls++;
      const key = /^Bearer (\S+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
      if (!key || !options.keys.has(key)) return error(401, 'The provided authorization grant is invalid, expired, or revoked');
      if (request.method === 'GET' && request.path === '/v3/scopes') return { status: 200, body: { scopes: ['mail.send', 'scopes.read'] } };
      if (request.method !== 'POST' || request.path !== '/v3/mail/send') return error(404, 'resource not found');
      if (state.throttle) return error(429, 'too many requests');
      if (request.body.length > 30 * 1024 * 1024) return error(413, 'The JSON payload you have included in your request is too large.');
      const mail = JSON.parse(request.body.toString('utf8')) as SendgridMail;
      const personalizations = mail.personalizations ?? [];
      if (!personalizations.length) return error(400, 'The personalizations field is required and must have at least one personalization.', 'personalizations');
      if (personalizations.length > 1000) return error(400, 'The personalizations field must have 1000 or fewer items.', 'personalizations');
      if (!mail.from?.email) return error(400, 'The from object must be provided for every email send.', 'from');
      if (!mail.content?.length) return error(400, 'Unless a valid template_id is provided, the content parameter is required.', 'content');
      const errors = personalizations.flatMap((p, i) =>
        (p.to ?? []).flatMap((to, j) => (!to.email || !/^[^@\s]+@[^@\s]+$/.test(to.email) || options.invalid?.has(to.email) ? [{ message: 'Does not contain a valid address.', field: `personalizations.${i}.to.${j}.email`, help: null }] : [])),
      );
      if (errors.length) return { status: 400, body: { errors } };
      const messageId = randomBytes(16).toString('base64url').slice(0, 22);
      accepted.push({ messageId, mail });
      return { status: 202, headers: { 'x-message-id': messageId }, body: '' };
    },
    { record: options.record ?? false },
  );
  return { ...server, accepted, state };
}
