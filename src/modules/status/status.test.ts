import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import pino from 'pino';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { SEED_PAYLOAD, SEND_ZONE, clone } from '../send/test-fixtures.ts';

const METRICS_TOKEN = 'metrics-token-0123456789';

/** A logger whose lines the test reads back. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** A port nothing listens on (a relay that refuses every connection). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One sample of a series in the Prometheus text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{([^}]*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describeEachEngine('delivery metrics, delivery logs and GET /v1/status', (engine) => {
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let h: Harness;
  let down: Harness;
  let alice: { id: string; secret: string };
  const captured = capturingLogger();

  before(async () => {
    dns = await startDnsServer({ ...clone(SEND_ZONE), 'bounce.mta.test': [{ type: 'MX', exchange: 'mta.test', priority: 10 }] });
    sink = await startSmtpSink({
      onRecipient: (address) =>
        address.startsWith('gone@') ? { code: 550, message: '5.1.1 no such user' } : address.startsWith('later@') ? { code: 451, message: '4.3.0 try again later' } : null,
    });
    h = await startHarness(
      engine,
      { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url(), MAILERDASH_BOUNCE_DOMAIN: 'bounce.mta.test', MAILERDASH_METRICS_TOKEN: METRICS_TOKEN },
      {},
      { logger: captured.logger },
    );
    // No relay reachable, localhost links, a bare host name and no MX for the bounce domain.
    down = await startHarness(engine, {
      MAILERDASH_DNS_SERVERS: dns.address,
      MAILERDASH_SMTP_URL: `smtp://127.0.0.1:${await closedPort()}`,
      MAILERDASH_PUBLIC_URL: 'http://localhost:3000',
      MAILERDASH_HOSTNAME: 'vm',
    });
    alice = await h.newKey('alice', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await down.close();
    await sink.close();
    await dns.close();
  });

  it('counts a send, a bounce and a deferral by channel and outcome, with reply times, and logs the bounce and the deferral', async () => {
    const payload = clone(SEED_PAYLOAD) as Record<string, any>;
    payload.personalizations = [{ to: [{ email: 'ok@example.com' }, { email: 'gone@example.com' }, { email: 'later@example.com' }] }];
    const res = await h.call({ method: 'POST', url: '/v1/mail/send', payload, auth: alice.secret });
    assert.equal(res.statusCode, 202, res.body);
    await h.workers.drain();

    assert.equal((await h.call({ method: 'GET', url: '/metrics', auth: null })).statusCode, 401, 'the token is required');
    assert.equal((await h.call({ method: 'GET', url: '/metrics', auth: 'wrong-token-0123456789' })).statusCode, 401);
    const scrape = await h.call({ method: 'GET', url: '/metrics', auth: METRICS_TOKEN });
    assert.equal(scrape.statusCode, 200);
    const text = scrape.body;
    assert.equal(sample(text, 'mailerdash_messages_total', { channel: 'trans', outcome: 'sent' }), 1);
    assert.equal(sample(text, 'mailerdash_messages_total', { channel: 'trans', outcome: 'bounced' }), 1);
    assert.equal(sample(text, 'mailerdash_messages_total', { channel: 'trans', outcome: 'deferred' }), 1);
    assert.equal(sample(text, 'mailerdash_transport_reply_seconds_count', { provider: 'smtp', outcome: 'accepted' }), 1);
    assert.equal(sample(text, 'mailerdash_transport_reply_seconds_count', { provider: 'smtp', outcome: 'permanent' }), 1);
    assert.equal(sample(text, 'mailerdash_queue_messages', { channel: 'trans', state: 'waiting' }), 1, 'the deferred message waits for its retry');
    assert.equal(sample(text, 'mailerdash_queue_messages', { channel: 'trans', state: 'due' }), 0);
    assert.equal(sample(text, 'mailerdash_queue_oldest_due_seconds', { channel: 'trans' }), 0);
    if (engine.name === 'postgres') assert.ok((sample(text, 'mailerdash_db_pool_connections', { state: 'total' }) ?? 0) >= 1);

    const bounce = captured.lines.find((l) => l.msg === 'delivery bounced');
    assert.ok(bounce, 'a bounce is logged');
    assert.equal(bounce.level, 40, 'at warn');
    assert.equal(bounce.domain, 'example.com');
    assert.equal(bounce.code, 550);
    assert.match(String(bounce.messageId), /^msg_/);
    const deferral = captured.lines.find((l) => l.msg === 'delivery deferred');
    assert.ok(deferral, 'a deferral is logged');
    assert.equal(deferral.level, 30, 'at info');
    assert.equal(deferral.code, 451);
    assert.equal(captured.lines.filter((l) => String(l.msg).startsWith('delivery ')).length, 2, 'the accepted message logs no delivery line');
  });

  it('puts the request id in the lines of a request and answers it as X-Request-Id', async () => {
    const mine = await h.call({ method: 'GET', url: '/v1/keys', headers: { 'x-request-id': 'trace-42.a' } });
    assert.equal(mine.headers['x-request-id'], 'trace-42.a');
    assert.equal(captured.lines.find((l) => l.msg === 'request' && l.path === '/v1/keys')?.reqId, 'trace-42.a');
    const made = await h.call({ method: 'GET', url: '/v1/keys', headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(String(made.headers['x-request-id']), /^req_[0-9a-f-]{36}$/, 'an unusable id is replaced');
  });

  it('GET /v1/status is for admin keys and shows a reachable relay, the queue and no setup problem', async () => {
    assert.equal((await h.call({ method: 'GET', url: '/v1/status', auth: alice.secret })).statusCode, 403);
    const res = await h.call({ method: 'GET', url: '/v1/status' });
    assert.equal(res.statusCode, 200, res.body);
    const status = res.json();
    assert.equal(status.default_provider, 'smtp');
    assert.deepEqual(status.transports.map((t: { provider: string; reachable: boolean }) => [t.provider, t.reachable]), [['smtp', true]]);
    const trans = status.queue.find((q: { channel: string }) => q.channel === 'trans');
    assert.equal(trans.waiting, 1);
    assert.deepEqual(status.setup, [], 'FQDN host, public links, a relay, and MX for the bounce domain');
  });

  it('with the relay refusing connections, /readyz stays ready while /v1/status and the metrics say the transport is down', async () => {
    assert.equal((await down.call({ method: 'GET', url: '/readyz', auth: null })).statusCode, 200, '/readyz is about this process');
    const status = (await down.call({ method: 'GET', url: '/v1/status' })).json();
    assert.equal(status.transports[0].reachable, false);
    assert.match(status.transports[0].detail, /ECONNREFUSED/);
    const codes = status.setup.map((c: { code: string; variable: string }) => `${c.code}:${c.variable}`).sort();
    assert.deepEqual(codes, ['bounce_domain_without_mx:MAILERDASH_BOUNCE_DOMAIN', 'hostname_not_fqdn:MAILERDASH_HOSTNAME', 'localhost_public_url:MAILERDASH_PUBLIC_URL']);
    for (const check of status.setup) assert.ok(check.fix.length > 10, 'each check says how to fix it');

    const bob = await down.newKey('bob', ['tu-dominio.com']);
    const res = await down.call({ method: 'POST', url: '/v1/mail/send', payload: SEED_PAYLOAD, auth: bob.secret });
    assert.equal(res.statusCode, 202, res.body);
    await down.workers.drain();
    const text = (await down.call({ method: 'GET', url: '/metrics', auth: null })).body;
    assert.equal(sample(text, 'mailerdash_transport_connection_errors_total', { provider: 'smtp' }), 1);
    assert.equal(sample(text, 'mailerdash_messages_total', { channel: 'trans', outcome: 'deferred' }), 1);
  });

  it('a campaign with localhost links is a 409 that says why, unless the override is given', async () => {
    const bob = await down.newKey('carol', ['tu-dominio.com']);
    const call = (method: 'POST' | 'PATCH', url: string, payload?: unknown) => down.call({ method, url, payload: payload as object, auth: bob.secret });
    const list = await call('POST', '/v1/bulk/lists', { name: 'readers' });
    assert.equal(list.statusCode, 201, list.body);
    const template = await call('POST', '/v1/bulk/templates', { name: 't', subject: 'Hi', html: '<p>Hi</p>' });
    assert.equal(template.statusCode, 201, template.body);
    const campaign = (name: string) => call('POST', '/v1/bulk/campaigns', { name, list_id: list.json().id, template_id: template.json().id, from_email: 'news@tu-dominio.com' });
    const first = (await campaign('one')).json().id;
    const refused = await call('POST', `/v1/bulk/campaigns/${first}/send`);
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal(refused.json().errors[0].code, 'local_links');
    assert.match(refused.json().errors[0].message, /http:\/\/localhost:3000.*MAILERDASH_PUBLIC_URL.*allow_local_links=true/);
    const patched = await call('PATCH', `/v1/bulk/campaigns/${first}`, { status: 'send' });
    assert.equal(patched.statusCode, 409);
    assert.equal((await call('GET' as 'POST', `/v1/bulk/campaigns/${first}`)).json().status, 'draft', 'nothing changed');
    assert.equal((await call('POST', `/v1/bulk/campaigns/${first}/send?allow_local_links=true`)).json().status, 'send');
    const second = (await campaign('two')).json().id;
    const overridden = await call('PATCH', `/v1/bulk/campaigns/${second}?allow_local_links=true`, { status: 'send' });
    assert.equal(overridden.statusCode, 200, overridden.body);
    assert.equal((await call('POST', '/v1/bulk/campaigns/cmp_missing/send')).statusCode, 404, 'an unknown campaign is still a 404');
  });
});
