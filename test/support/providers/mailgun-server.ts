import { randomBytes } from 'node:crypto';
import { basicCredentials, startFakeHttp } from './fake-http.ts';

/** What one recipient of a Mailgun call gets, with its recipient variables substituted. */
export interface MailgunDelivery {
  id: string;
  to: string;
  mime: Buffer | null;
  fields: Record<string, string>;
}

/**
 * Mailgun on loopback: POST /v3/{domain}/messages (form fields; up to 1,000 `to`, recipient-variables)
 * and /v3/{domain}/messages.mime (a `message` file), GET /v4/domains/{domain}. Basic auth `api:<key>`:
 * a wrong key is 401 "Forbidden" as Mailgun answers it. 400 {"message"} for a refused address,
 * 404 for an unknown domain, 429 when throttled.
 */
export async function startMailgunFake(options: { keys: Set<string>; domains: Set<string>; invalid?: Set<string>; record?: boolean }) {
  const state = { throttle: false, calls: 0 };
  const deliveries: MailgunDelivery[] = [];
  const server = await startFakeHttp(
    async (request) => {
      state.calls++;
      const auth = basicCredentials(request.headers.authorization);
      if (!auth || auth.user !== 'api' || !options.keys.has(auth.password)) return { status: 401, headers: { 'content-type': 'text/plain' }, body: 'Forbidden' };
      const domainRoute = /^\/v4\/domains\/([^/]+)$/.exec(request.path);
      if (request.method === 'GET' && domainRoute) {
        if (!options.domains.has(domainRoute[1]!)) return { status: 404, body: { message: 'Domain not found' } };
        return { status: 200, body: { domain: { name: domainRoute[1], state: 'active', type: 'custom', created_at: 'Tue, 01 Dec 2026 00:00:00 GMT' }, receiving_dns_records: [], sending_dns_records: [] } };
      }
      const send = /^\/v3\/([^/]+)\/(messages|messages\.mime)$/.exec(request.path);
      if (request.method !== 'POST' || !send) return { status: 404, body: { message: 'not found' } };
      if (!options.domains.has(send[1]!)) return { status: 404, body: { message: `Domain not found: ${send[1]}` } };
      if (state.throttle) return { status: 429, body: { message: 'Too many requests' } };
      const form = await new Response(new Uint8Array(request.body), { headers: { 'content-type': String(request.headers['content-type']) } }).formData();
      const to = form.getAll('to').flatMap((value) => String(value).split(',')).map((a) => a.trim()).filter(Boolean);
      if (!to.length) return { status: 400, body: { message: "'to' parameter is missing" } };
      if (to.length > 1000) return { status: 400, body: { message: 'Too many recipients' } };
      if (to.some((address) => options.invalid?.has(address) || !/^[^@\s]+@[^@\s]+$/.test(address))) {
        return { status: 400, body: { message: "'to' parameter is not a valid address. please check documentation" } };
      }
      const fields: Record<string, string> = {};
      let mime: Buffer | null = null;
      for (const [name, value] of form.entries()) {
        if (name === 'to') continue;
        if (name === 'message' && typeof value !== 'string') mime = Buffer.from(await value.arrayBuffer());
        else if (typeof value === 'string') fields[name] = value;
      }
      if (send[2] === 'messages' && (!fields.from || (!fields.text && !fields.html))) return { status: 400, body: { message: "Need at least one of 'text' or 'html' parameters specified" } };
      if (send[2] === 'messages.mime' && !mime) return { status: 400, body: { message: "'message' parameter is missing" } };
      const variables = fields['recipient-variables'] ? (JSON.parse(fields['recipient-variables']) as Record<string, Record<string, string>>) : {};
      const id = `<${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}.${randomBytes(8).toString('hex')}@${send[1]}>`;
      for (const address of to) {
        const own = variables[address] ?? {};
        const substituted = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.replace(/%recipient\.([a-z0-9_]+)%/g, (_, key: string) => own[key] ?? '')]));
        deliveries.push({ id, to: address, mime, fields: substituted });
      }
      return { status: 200, body: { id, message: 'Queued. Thank you.' } };
    },
    { record: options.record ?? false },
  );
  return { ...server, deliveries, state };
}
