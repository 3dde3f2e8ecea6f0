import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp-sink.ts';
import { SEED_PAYLOAD, SEND_ZONE, clone } from './test-fixtures.ts';

// The accept side's rows as the delivery pipeline reads them: one SMTP transaction per recipient,
// visible To and Cc from the personalization, Bcc never shown, timeline queued -> sent.
describeEachEngine('accepted mail through the delivery pipeline', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let alice: { id: string; secret: string };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    sink = await startSmtpSink();
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_SMTP_URL: sink.url() });
    alice = await h.newKey('alice', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await sink.close();
    await dns.close();
  });

  it('delivers one copy per to, cc and bcc address with the personalization\'s headers', async () => {
    const payload = clone(SEED_PAYLOAD) as Record<string, any>;
    payload.personalizations = [
      {
        to: [{ email: 'ana@example.com', name: 'Ana' }, { email: 'beto@example.com' }],
        cc: [{ email: 'carla@example.com' }],
        bcc: [{ email: 'dora@example.com' }],
        subject: 'Hola -name-',
        substitutions: { '-name-': 'Ana' },
      },
    ];
    const res = await h.call({ method: 'POST', url: '/v1/mail/send', payload, auth: alice.secret });
    assert.equal(res.statusCode, 202, res.body);
    await h.workers.drain();

    const list = await h.call({ method: 'GET', url: `/v1/messages?request_id=${res.headers['x-message-id']}`, auth: alice.secret });
    const messages = list.json().data as Array<{ to: string; status: string; events: Array<{ type: string }>; last_response: string | null }>;
    assert.deepEqual(messages.map((m) => m.status), ['sent', 'sent', 'sent', 'sent']);
    for (const m of messages) {
      assert.deepEqual(m.events.map((e) => e.type).filter((t) => t === 'queued' || t === 'sent'), ['queued', 'sent']);
      assert.match(m.last_response ?? '', /^250/);
    }

    const envelopes = sink.received.map((r) => r.to).sort();
    assert.deepEqual(envelopes, [['ana@example.com'], ['beto@example.com'], ['carla@example.com'], ['dora@example.com']]);
    for (const received of sink.received) {
      const mail = await simpleParser(received.raw);
      assert.equal(mail.subject, 'Hola Ana');
      assert.deepEqual((Array.isArray(mail.to) ? mail.to : [mail.to]).flatMap((a) => a!.value.map((v) => v.address)), ['ana@example.com', 'beto@example.com']);
      assert.deepEqual((Array.isArray(mail.cc) ? mail.cc : [mail.cc]).flatMap((a) => a!.value.map((v) => v.address)), ['carla@example.com']);
      assert.equal(mail.headers.has('bcc'), false);
      assert.ok(!received.raw.toString('utf8').includes('dora@example.com'), 'the bcc address appears in no header');
      assert.match(mail.html || '', /Cliente Ejemplo/);
    }
  });
});
