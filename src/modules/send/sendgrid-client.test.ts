import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Client } from '@sendgrid/client';
import sendgrid from '@sendgrid/mail';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { SEND_ZONE, clone } from './test-fixtures.ts';

const { MailService } = sendgrid as unknown as { MailService: new () => typeof sendgrid };

describeEachEngine('the official @sendgrid/mail client, pointed at MailerDash', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let client: typeof sendgrid;
  let alice: { id: string; secret: string };
  const seen: Array<{ url: string; headers: Record<string, unknown>; body: unknown }> = [];

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    alice = await h.newKey('alice', ['tu-dominio.com']);
    h.app.addHook('preHandler', async (request) => {
      seen.push({ url: request.url, headers: { ...request.headers }, body: request.body });
    });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const address = h.app.server.address() as { port: number };
    const http = new Client();
    http.setApiKey(alice.secret);
    http.setDefaultRequest('baseUrl', `http://127.0.0.1:${address.port}`);
    client = new MailService();
    client.setClient(http);
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  it('sends with the SDK\'s own request and gets 202 with X-Message-Id', async () => {
    const [response] = await client.send({
      to: [{ email: 'ana@example.com', name: 'Ana' }, 'beto@example.com'],
      cc: 'carla@a-only.example',
      bcc: 'dora@example.com',
      from: { email: 'no-reply@tu-dominio.com', name: 'Tu Servicio' },
      replyTo: 'help@tu-dominio.com',
      subject: 'Hola',
      text: 'Hola en texto',
      html: '<p>Hola</p>',
      categories: ['welcome'],
      customArgs: { user_id: '42' },
      headers: { 'X-Entity-Ref': 'abc' },
      attachments: [{ content: Buffer.from('hello').toString('base64'), filename: 'hello.txt', type: 'text/plain', disposition: 'attachment' }],
      trackingSettings: { openTracking: { enable: true } },
    });
    assert.equal(response.statusCode, 202);
    assert.deepEqual(response.body, { message: 'accepted', app: alice.id });
    const requestId = response.headers['x-message-id'] as string;
    assert.match(requestId, /^req_/);

    const request = seen.at(-1)!;
    assert.equal(request.url, '/v3/mail/send');
    assert.match(String(request.headers['user-agent']), /sendgrid/);
    assert.equal(request.headers.authorization, `Bearer ${alice.secret}`);

    const messages = await h.database.db.selectFrom('messages').select(['to_email', 'personalization', 'content_id']).where('request_id', '=', requestId).orderBy('to_email').execute();
    assert.deepEqual(messages.map((m) => m.to_email), ['ana@example.com', 'beto@example.com', 'carla@a-only.example', 'dora@example.com']);
    const content = await h.database.db.selectFrom('message_contents').selectAll().where('id', '=', messages[0]!.content_id).executeTakeFirstOrThrow();
    assert.equal(content.text, 'Hola en texto');
    assert.equal(content.html, '<p>Hola</p>');
    assert.deepEqual(content.reply_to, { email: 'help@tu-dominio.com' });
    assert.deepEqual(content.settings, { tracking: { open: true }, custom_args: { user_id: '42' } });
  });

  it('surfaces MailerDash\'s 400 as the SDK\'s ResponseError, naming the field', async () => {
    await assert.rejects(
      client.send({ to: 'x@mailinator.com', from: 'no-reply@tu-dominio.com', subject: 'Hola', text: 'x' }),
      (error: any) => {
        assert.equal(error.code, 400);
        assert.deepEqual(error.response.body.errors, [
          { field: 'personalizations.0.to.0.email', code: 'disposable_domain', message: 'personalizations.0.to.0.email: mailinator.com is a disposable email domain' },
        ]);
        return true;
      },
    );
  });

  it('sandbox mode answers 200 through the SDK and queues nothing', async () => {
    const before = await h.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const [response] = await client.send({
      to: 'ana@example.com',
      from: 'no-reply@tu-dominio.com',
      subject: 'Hola',
      text: 'x',
      mailSettings: { sandboxMode: { enable: true } },
    });
    assert.equal(response.statusCode, 200);
    const afterCount = await h.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(afterCount.n), Number(before.n));
  });
});
