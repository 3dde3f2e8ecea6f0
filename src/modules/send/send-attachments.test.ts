import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../../../test/support/dns-server.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { ATTACHMENT_PART_BYTES } from '../../delivery/mime-encoding.ts';
import { SEED_PAYLOAD, SEND_ZONE, clone, rowCounts } from './test-fixtures.ts';

// Attachments decoded while the body streams in (decodeBase64Fields), through the real route and tables.
describeEachEngine('POST /v1/mail/send attachments', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let alice: { id: string; secret: string };

  before(async () => {
    dns = await startDnsServer(clone(SEND_ZONE));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address });
    alice = await h.newKey('alice', ['tu-dominio.com']);
  });
  after(async () => {
    await h.close();
    await dns.close();
  });

  /** The seed request with these attachments, as JSON text. */
  const body = (attachments: Array<{ content: string; filename: string }>) => JSON.stringify({ ...clone(SEED_PAYLOAD), attachments });
  const post = (payload: string, headers: Record<string, string> = {}, url = '/v1/mail/send') =>
    h.call({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers }, auth: alice.secret });
  const stored = async (requestId: string) => {
    const message = await h.database.db.selectFrom('messages').select('content_id').where('request_id', '=', requestId).executeTakeFirstOrThrow();
    const rows = await h.database.db.selectFrom('message_attachments').selectAll().where('content_id', '=', message.content_id).orderBy('seq').orderBy('part').execute();
    const bySeq = new Map<number, Buffer[]>();
    for (const r of rows) bySeq.set(r.seq, [...(bySeq.get(r.seq) ?? []), Buffer.from(r.data)]);
    return [...bySeq.values()];
  };

  it('stores each attachment byte for byte in parts of ATTACHMENT_PART_BYTES, whatever way the base64 is written (v1 and v3)', async () => {
    const report = randomBytes(2 * ATTACHMENT_PART_BYTES + 12_345);
    const wrapped = report.toString('base64').replace(/.{76}/g, '$&\r\n');
    const small = Buffer.from('¡hola! /+?');
    const escaped = small.toString('base64').replace(/\//g, '\\/').replace(/^(.)/, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const payload = body([{ content: wrapped, filename: 'report.bin' }, { content: 'ESCAPED', filename: 'hola.txt' }]).replace('"ESCAPED"', `"${escaped}"`);
    for (const url of ['/v1/mail/send', '/v3/mail/send']) {
      const res = await post(payload, {}, url);
      assert.equal(res.statusCode, 202, res.body);
      const [parts, hola] = await stored(res.headers['x-message-id'] as string);
      assert.deepEqual(parts!.map((p) => p.length), [ATTACHMENT_PART_BYTES, ATTACHMENT_PART_BYTES, 12_345]);
      assert.ok(Buffer.concat(parts!).equals(report), url);
      assert.ok(Buffer.concat(hola!).equals(small), url);
    }
  });

  it('refuses what it refused before, naming the attachment field; nothing is stored', async () => {
    const before = await rowCounts(h);
    const good = Buffer.from('ok').toString('base64');
    const cases: Array<[string, string, number, string, string]> = [
      ['not base64', body([{ content: good, filename: 'a' }, { content: 'not base64!', filename: 'b' }]), 400, 'invalid_base64', 'attachments.1.content'],
      ['a NUL', body([{ content: `${good}\u0000`, filename: 'a' }]), 400, 'invalid_characters', 'attachments.0.content'],
      ['empty', body([{ content: '', filename: 'a' }]), 400, 'invalid_value', 'attachments.0.content'],
      ['__proto__', body([{ content: good, filename: 'a' }]).replace('"filename"', '"__proto__":{"x":1},"filename"'), 400, 'forbidden_key', 'attachments.0.__proto__'],
      ['not JSON', body([{ content: good, filename: 'a' }]).slice(0, -10), 400, 'invalid_json', ''],
    ];
    for (const [what, payload, status, code, field] of cases) {
      const res = await post(payload);
      assert.equal(res.statusCode, status, `${what}: ${res.body}`);
      const errors = res.json().errors as Array<{ code: string; field: string | null }>;
      assert.ok(errors.some((e) => e.code === code && (e.field ?? '') === field), `${what}: ${res.body}`);
    }
    const both = await post(body([{ content: 'not base64!', filename: 'b' }]).replace('"no-reply@tu-dominio.com"', '"no-reply@@tu-dominio.com"'));
    assert.deepEqual(both.json().errors.map((e: { field: string }) => e.field).sort(), ['attachments.0.content', 'from.email'], 'one answer names every bad field');
    assert.deepEqual(await rowCounts(h), before);
  });

  it('Idempotency-Key: the same attachment replays, other bytes under the same key are a 422', async () => {
    const bytes = randomBytes(50_000);
    const first = await post(body([{ content: bytes.toString('base64'), filename: 'a.bin' }]), { 'idempotency-key': 'attach-1' });
    assert.equal(first.statusCode, 202, first.body);
    // The same bytes written as lines: the same request.
    const again = await post(body([{ content: bytes.toString('base64').replace(/.{76}/g, '$&\n'), filename: 'a.bin' }]), { 'idempotency-key': 'attach-1' });
    assert.deepEqual([again.statusCode, again.headers['idempotent-replayed'], again.headers['x-message-id']], [202, 'true', first.headers['x-message-id']]);
    bytes[0] = bytes[0]! ^ 1;
    const other = await post(body([{ content: bytes.toString('base64'), filename: 'a.bin' }]), { 'idempotency-key': 'attach-1' });
    assert.equal(other.statusCode, 422, other.body);
  });
});
