import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { makeCertificate } from '../../../test/support/tls-cert.ts';
import { createResolver } from '../../lib/dns.ts';
import { createOutboundGuard } from '../../lib/ssrf.ts';
import { createWebhookSender } from './sender.ts';

const request = (url: string, id = 'evt_1') => ({ url, id, timestamp: new Date(), body: '{"type":"webhook.test","data":{"é":1}}', signature: 'v1,x' });

/** A raw TCP server that answers each request (one per read) with what `script` returns for it. */
async function scriptedServer(script: (index: number, connection: number, socket: net.Socket) => string | null) {
  let requests = 0;
  let connections = 0;
  const bodies: string[] = [];
  const server = net.createServer((socket) => {
    const connection = ++connections;
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const headEnd = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (headEnd < 0 || Buffer.byteLength(text.slice(headEnd + 4)) < length) return;
      bodies.push(text.slice(headEnd + 4));
      text = '';
      const answer = script(requests++, connection, socket);
      if (answer === null) socket.destroy();
      else socket.write(answer);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    counts: () => ({ requests, connections }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('webhook sender: answers of every shape, on loopback', () => {
  const sender = createWebhookSender({ guard: createOutboundGuard({ allowHosts: ['127.0.0.1'] }), connectionsPerOrigin: 1, timeoutMs: 2_000 });
  after(() => sender.close());

  it('reads a chunked answer, and keeps the connection for the next request', async () => {
    const server = await scriptedServer(() => 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nx-trailer: 1\r\n\r\n');
    assert.deepEqual(await sender.send(request(server.url)), { ok: true, status: 200, body: 'abcdefg', error: null });
    assert.deepEqual(await sender.send(request(server.url)), { ok: true, status: 200, body: 'abcdefg', error: null });
    assert.deepEqual(server.counts(), { requests: 2, connections: 1 });
    assert.equal(server.bodies[0], '{"type":"webhook.test","data":{"é":1}}', 'the body as sent, its length counted in bytes');
    await server.close();
  });

  it('an answer without a length ends when the server closes; "connection: close" is honoured', async () => {
    const server = await scriptedServer((index, _c, socket) => {
      if (index === 0) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\nno such hook');
        return '';
      }
      return 'HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n';
    });
    assert.deepEqual(await sender.send(request(server.url)), { ok: false, status: 404, body: 'no such hook', error: 'HTTP 404' });
    assert.deepEqual(await sender.send(request(server.url)), { ok: true, status: 204, body: '', error: null });
    assert.deepEqual(await sender.send(request(server.url)), { ok: true, status: 204, body: '', error: null });
    assert.deepEqual(server.counts(), { requests: 3, connections: 3 });
    await server.close();
  });

  it('a redirect is a failure, never followed', async () => {
    const server = await scriptedServer((index) =>
      index === 0 ? 'HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok' : 'HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n',
    );
    assert.deepEqual(await sender.send(request(server.url)), { ok: true, status: 201, body: 'ok', error: null });
    assert.deepEqual(await sender.send(request(server.url)), { ok: false, status: 307, body: '', error: 'HTTP 307' });
    assert.equal(server.counts().requests, 2);
    await server.close();
  });

  it('a kept-alive connection the server drops unanswered fails that attempt (the schedule retries it); the next goes on a new one', async () => {
    const server = await scriptedServer((index) => (index === 1 ? null : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    assert.equal((await sender.send(request(server.url))).ok, true);
    const dropped = await sender.send(request(server.url));
    assert.equal(dropped.ok, false);
    assert.equal(dropped.status, null);
    assert.deepEqual(await sender.send(request(server.url)), { ok: true, status: 200, body: 'ok', error: null });
    assert.deepEqual(server.counts(), { requests: 3, connections: 2 });
    await server.close();
  });

  it('a connection dropped before any answer on a new connection is a failed attempt, not retried', async () => {
    const server = await scriptedServer(() => null);
    const result = await sender.send(request(server.url));
    assert.equal(result.ok, false);
    assert.equal(result.status, null);
    assert.match(result.error!, /other side closed|ECONNRESET/);
    assert.deepEqual(server.counts(), { requests: 1, connections: 1 });
    await server.close();
  });

  it('a refused connection is a failed attempt', async () => {
    const result = await sender.send(request('http://127.0.0.1:1/hook'));
    assert.equal(result.ok, false);
    assert.match(result.error!, /ECONNREFUSED/);
  });
});

describe('webhook sender over TLS, through the guard', () => {
  let dns: TestDnsServer;
  let server: https.Server;
  let port: number;
  let hits = 0;
  let ca: Buffer;
  before(async () => {
    dns = await startDnsServer({ 'hooks.test': [{ type: 'A', address: '127.0.0.1' }], 'other.test': [{ type: 'A', address: '127.0.0.1' }] });
    const certificate = makeCertificate('hooks.test');
    ca = readFileSync(certificate.certPath);
    server = https.createServer({ cert: ca, key: readFileSync(certificate.keyPath) }, (req, res) => {
      hits++;
      req.resume();
      req.on('end', () => res.end(`tls ${req.headers.host}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await dns.close();
  });
  const senderFor = (allowHosts: string[]) =>
    createWebhookSender({ guard: createOutboundGuard({ allowHosts, resolver: createResolver([dns.address], 500) }), connectionsPerOrigin: 2, timeoutMs: 5_000, ca });

  it('sends over https to the checked address, verifying the certificate for the host name', async () => {
    const sender = senderFor(['hooks.test', 'other.test']);
    assert.deepEqual(await sender.send(request(`https://hooks.test:${port}/hook`)), { ok: true, status: 200, body: `tls hooks.test:${port}`, error: null });
    const wrongName = await sender.send(request(`https://other.test:${port}/hook`));
    assert.equal(wrongName.ok, false);
    assert.match(wrongName.error!, /ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
    await sender.close();
  });

  it('a host that resolves to loopback, not allowed, is refused at connect and never reached', async () => {
    const before = hits;
    const sender = senderFor([]);
    const result = await sender.send(request(`https://hooks.test:${port}/hook`));
    assert.equal(result.ok, false);
    assert.match(result.error!, /^refused: .*127\.0\.0\.1/);
    assert.equal(hits, before);
    await sender.close();
  });
});
