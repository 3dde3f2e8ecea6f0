import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/support/webhook-receiver.ts';
import { createOutboundGuard } from '../../lib/ssrf.ts';
import { createWebhookSender, type WebhookSender } from './sender.ts';

const request = (url: string) => ({ url, id: 'evt_1', timestamp: new Date(), body: '{"type":"webhook.test"}', signature: 'v1,x' });

describe('webhook sender (one attempt, real HTTP on loopback)', () => {
  let receiver: WebhookReceiver;
  let sender: WebhookSender;
  before(async () => {
    receiver = await startWebhookReceiver();
    sender = createWebhookSender({ guard: createOutboundGuard({ allowHosts: ['127.0.0.1'] }), connectionsPerOrigin: 2, timeoutMs: 300 });
  });
  after(async () => {
    await sender.close();
    await receiver.close();
  });

  it('sends the headers and body, and keeps the answer', async () => {
    receiver.answer = () => ({ status: 202, body: 'accepted' });
    const result = await sender.send(request(receiver.url('/hook?x=1')));
    assert.deepEqual(result, { ok: true, status: 202, body: 'accepted', error: null });
    const [hook] = receiver.received.slice(-1);
    assert.equal(hook!.path, '/hook?x=1');
    assert.equal(hook!.body, '{"type":"webhook.test"}');
    assert.equal(hook!.headers['webhook-id'], 'evt_1');
    assert.equal(hook!.headers['webhook-signature'], 'v1,x');
    assert.equal(hook!.headers['content-type'], 'application/json');
  });

  it('keeps only the first 1 KB of a long answer, and a non-2xx is a failure', async () => {
    receiver.answer = () => ({ status: 500, body: 'y'.repeat(1_000_000) });
    const result = await sender.send(request(receiver.url()));
    assert.equal(result.ok, false);
    assert.equal(result.status, 500);
    assert.equal(result.body, 'y'.repeat(1024));
    assert.equal(result.error, 'HTTP 500');
  });

  it('an endpoint that never answers is a timed-out attempt', async () => {
    receiver.answer = () => 'hang';
    const result = await sender.send(request(receiver.url()));
    assert.deepEqual(result, { ok: false, status: null, body: null, error: 'timed out' });
    receiver.answer = () => ({ status: 200, body: 'ok' });
    assert.equal((await sender.send(request(receiver.url()))).ok, true, 'the sender still works after a timeout');
  });

  it('an IP literal that is not allowed is refused before any request', async () => {
    const result = await sender.send(request('https://127.0.0.2:1/hook'));
    assert.equal(result.ok, false);
    assert.equal(result.status, null);
    assert.match(result.error!, /^refused: /);
  });
});
