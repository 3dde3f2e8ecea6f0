import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { BASE64 } from '../modules/send/rules.ts';
import { decodeBase64Fields, decodedBase64 } from './base64-body.ts';
import { installErrorHandling } from './errors.ts';
import { installInputGuards } from './input-guards.ts';

const json = { 'content-type': 'application/json' };
const schema = {
  body: Type.Object({
    subject: Type.Optional(Type.String()),
    attachments: Type.Optional(Type.Array(Type.Object({ content: Type.String({ minLength: 1 }), filename: Type.Optional(Type.String()) }, { additionalProperties: false }))),
  }),
};

/** The same route behind the app's own JSON parser (`plain`) and behind decodeBase64Fields (`decoding`). */
async function app(decoding: boolean): Promise<FastifyInstance> {
  const server = Fastify({ bodyLimit: 4096 });
  installErrorHandling(server);
  installInputGuards(server);
  await server.register(async (scope) => {
    if (decoding) decodeBase64Fields(scope, { array: 'attachments', field: 'content', pieceBytes: 4 });
    scope.post('/x', { schema }, async (request) => {
      const body = request.body as { attachments?: Array<{ content: string }> };
      const decoded = decodedBase64(request);
      // Both answer the bytes each attachment stands for (or that it is not base64, as the send rules say), so equal answers mean equal bodies.
      const bytes = (content: string) => (decoded.has(content) ? Buffer.concat(decoded.get(content)!) : BASE64.test(content) ? Buffer.from(content, 'base64') : null);
      return { attachments: (body.attachments ?? []).map((a) => bytes(a.content)?.toString('hex') ?? 'not base64') };
    });
  });
  await server.register(async (scope) => {
    scope.post('/other', async (request) => ({ same: request.body }));
  });
  return server;
}

let plain: FastifyInstance;
let decoding: FastifyInstance;
before(async () => {
  [plain, decoding] = await Promise.all([app(false), app(true)]);
});
after(() => Promise.all([plain.close(), decoding.close()]));

const b64 = Buffer.from('attached bytes').toString('base64');
const bodies: Array<[string, string | Buffer, Record<string, string>?]> = [
  ['valid', JSON.stringify({ attachments: [{ content: b64, filename: 'a' }, { content: 'aGk=' }] })],
  ['line-wrapped with escapes', `{"attachments":[{"content":"${b64.slice(0, 8)}\\r\\n${b64.slice(8).replace('/', '\\/')}\\u000a"}]}`],
  ['a leading BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{"attachments":[{"content":"${b64}"}]}`)])],
  ['not base64', `{"attachments":[{"content":"not base64!"}]}`],
  ['a NUL escape', `{"attachments":[{"content":"${b64}\\u0000"}]}`],
  ['a raw control character', `{"attachments":[{"content":"${b64}\u0001"}]}`],
  ['a bad escape', `{"attachments":[{"content":"${b64}\\x"}]}`],
  ['cut short inside the content', `{"attachments":[{"content":"${b64}`],
  ['cut short after it', `{"attachments":[{"content":"${b64}"}`],
  ['empty content', `{"attachments":[{"content":""}]}`],
  ['content not a string', `{"attachments":[{"content":12}]}`],
  ['__proto__ beside the content', `{"attachments":[{"content":"${b64}","__proto__":{"admin":true}}]}`],
  ['constructor.prototype at the top', `{"constructor":{"prototype":{}},"attachments":[{"content":"${b64}"}]}`],
  ['an unknown field', `{"attachments":[{"content":"${b64}","extra":1}]}`],
  ['nested too deep', `{"attachments":[{"content":"${b64}","filename":${'['.repeat(40)}${']'.repeat(40)}}]}`],
  ['a duplicate content key', `{"attachments":[{"content":"${b64}","content":"aGk="}]}`],
  ['an escaped key', `{"attachments":[{"cont\\u0065nt":"${b64}"}]}`],
  ['a root array', `[{"attachments":[{"content":"${b64}"}]}]`],
  ['empty', ''],
  ['over the body limit', JSON.stringify({ attachments: [{ content: 'QUJD'.repeat(1100) }] })],
  ['latin1', `{"attachments":[{"content":"${b64}"}]}`, { 'content-type': 'application/json; charset=latin1' }],
  ['gzip', `{"attachments":[{"content":"${b64}"}]}`, { ...json, 'content-encoding': 'gzip' }],
];

it('answers every body exactly as the app’s own JSON parser does: status and error envelope, or the same bytes', async () => {
  for (const [what, payload, headers] of bodies) {
    const [a, b] = await Promise.all([plain, decoding].map((server) => server.inject({ method: 'POST', url: '/x', headers: headers ?? json, payload })));
    assert.equal(b!.statusCode, a!.statusCode, `${what}: ${a!.body} / ${b!.body}`);
    assert.deepEqual(b!.json(), a!.json(), what);
  }
  const valid = await decoding.inject({ method: 'POST', url: '/x', headers: json, payload: bodies[0]![1] });
  assert.deepEqual(valid.json(), { attachments: [Buffer.from('attached bytes').toString('hex'), Buffer.from('hi').toString('hex')] });
});

it('reads a body sent in many small chunks, and leaves routes outside its scope to the app’s parser', async () => {
  await decoding.listen({ port: 0, host: '127.0.0.1' });
  const { port } = decoding.server.address() as { port: number };
  const body = Buffer.from(JSON.stringify({ subject: 'Olá', attachments: [{ content: Buffer.from('x'.repeat(900)).toString('base64') }] }));
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    // Chunked, three bytes a write: every boundary a scanner state can be in.
    import('node:http').then(({ request }) => {
      const req = request({ host: '127.0.0.1', port, path: '/x', method: 'POST', headers: json }, (r) => {
        let text = '';
        r.on('data', (c) => (text += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      for (let at = 0; at < body.length; at += 3) req.write(body.subarray(at, at + 3));
      req.end();
    }, reject);
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(JSON.parse(res.text), { attachments: [Buffer.from('x'.repeat(900)).toString('hex')] });
  const other = await decoding.inject({ method: 'POST', url: '/other', headers: json, payload: `{"attachments":[{"content":"${b64}"}]}` });
  assert.deepEqual(other.json(), { same: { attachments: [{ content: b64 }] } });
});
