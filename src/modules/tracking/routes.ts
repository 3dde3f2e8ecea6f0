import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../http/errors.ts';
import type { TrackingService } from './service.ts';

// The smallest transparent GIF (1x1).
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const FORM_LIMIT = 64 * 1024;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head><body>${body}</body></html>`;
}

const Token = Type.Object({ token: Type.String({ minLength: 3, maxLength: 200 }) });
const Html = Type.String({ description: 'text/html' });

/**
 * Public routes (no API key) behind the links in sent mail. Form and multipart bodies are accepted
 * here only, for RFC 8058 one-click POSTs (`List-Unsubscribe=One-Click`) and the confirmation form.
 */
export const trackingRoutes: FastifyPluginAsyncTypebox<{ tracking: TrackingService }> = async (app, { tracking }) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // Mail providers send the one-click POST as multipart too; its content does not change what happens.
  app.addContentTypeParser('multipart/form-data', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    done(null, { 'List-Unsubscribe': /name="List-Unsubscribe"\s*\r?\n\r?\n\s*One-Click/i.test(body as string) ? 'One-Click' : undefined });
  });

  app.get(
    '/u/:token',
    {
      schema: {
        tags: ['tracking'],
        summary: 'Unsubscribe confirmation page (never unsubscribes by itself)',
        security: [],
        params: Token,
        response: { 200: Html, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const { email, sender, done } = await tracking.unsubscribePreview(request.params.token);
      const body = done
        ? `<h1>You are unsubscribed</h1><p>${escapeHtml(email)} no longer receives these emails from ${escapeHtml(sender)}.</p>`
        : `<h1>Unsubscribe?</h1><p>Stop emails from ${escapeHtml(sender)} to ${escapeHtml(email)}.</p>` +
          `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><input type="hidden" name="source" value="form"><button type="submit">Unsubscribe</button></form>`;
      return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page('Unsubscribe', body));
    },
  );

  app.post(
    '/u/:token',
    {
      schema: {
        tags: ['tracking'],
        summary: 'Unsubscribe at once (RFC 8058 one-click, or the confirmation form); 200, no redirect',
        security: [],
        params: Token,
        response: { 200: Html, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, string | undefined>;
      const { email } = await tracking.unsubscribe(request.params.token, body.source === 'form' ? 'form' : 'one-click');
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page('Unsubscribed', `<h1>You are unsubscribed</h1><p>${escapeHtml(email)} will not receive these emails any more.</p>`));
    },
  );

  app.get(
    '/t/o/:token',
    { schema: { tags: ['tracking'], summary: 'Open pixel: records a unique open', security: [], params: Token, response: { 200: Type.Any({ description: 'image/gif' }), ...errorResponses(404) } } },
    async (request, reply) => {
      await tracking.open(request.params.token);
      return reply.header('cache-control', 'no-store, max-age=0').type('image/gif').send(PIXEL);
    },
  );

  app.get(
    '/t/c/:token',
    {
      schema: {
        tags: ['tracking'],
        summary: 'Click redirect: records a unique click, then 302 to the URL the link was signed for',
        security: [],
        params: Token,
        querystring: Type.Object({ u: Type.String({ minLength: 1, maxLength: 8192 }) }),
        response: { ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const target = await tracking.click(request.params.token, request.query.u);
      return reply.header('cache-control', 'no-store').redirect(target, 302);
    },
  );
};
