import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import nodemailer from 'nodemailer';
import { createLogger } from '../../composition.ts';
import { createInboundListener } from './listener.ts';
import { claimReports, storeReport } from './repo.ts';
import { createInboundReportsJob } from '../../workers/inbound-reports.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { dsnMail } from './test-fixtures.ts';

const FBL = 'fbl@bounce.test';

async function send(port: number, options: { requireTLS?: boolean } = {}) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: !options.requireTLS, requireTLS: options.requireTLS ?? false, tls: { rejectUnauthorized: false } });
  try {
    return await transport.sendMail({ envelope: { from: '', to: [FBL] }, raw: dsnMail({ recipient: 'x@rcpt.test' }) });
  } finally {
    transport.close();
  }
}
const failure = (promise: Promise<unknown>) => promise.then(() => assert.fail('accepted'), (error: { responseCode?: number; response?: string; code?: string }) => error);

describeEachEngine('inbound listener limits and crash safety', (engine) => {
  let h: Harness;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'md-inbound-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=bounce.test', '-days', '2', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    h = await startHarness(engine, {
      MAILERDASH_BOUNCE_DOMAIN: 'bounce.test',
      MAILERDASH_INBOUND_TLS_CERT: path.join(dir, 'cert.pem'),
      MAILERDASH_INBOUND_TLS_KEY: path.join(dir, 'key.pem'),
    });
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = () => ({ db: h.database.db, logger: createLogger('silent'), verify: async () => null, hostname: 'mta.test', bounceDomain: 'bounce.test', fblAddress: FBL, maxBytes: 100_000, maxClients: 10, ratePerMinute: 0 });

  it('offers STARTTLS with the configured certificate, and not without one', async () => {
    const withTls = h.context.createInboundListener();
    const port = await withTls.listen(0, '127.0.0.1');
    try {
      const info = await send(port, { requireTLS: true });
      assert.match(info.response, /^250 /);
    } finally {
      await withTls.close();
    }
    const plain = createInboundListener(base());
    const plainPort = await plain.listen(0, '127.0.0.1');
    try {
      const error = await failure(send(plainPort, { requireTLS: true }));
      assert.match(String((error as Error).message), /STARTTLS/i);
    } finally {
      await plain.close();
    }
  });

  it('limits messages per client address (450 4.7.0) on an injected clock', async () => {
    let now = new Date('2026-12-01T10:00:00Z');
    const listener = createInboundListener({ ...base(), ratePerMinute: 6, now: () => now });
    const port = await listener.listen(0, '127.0.0.1');
    try {
      await send(port);
      const error = await failure(send(port));
      assert.equal(error.responseCode, 450);
      assert.match(error.response ?? '', /4\.7\.0/);
      now = new Date(now.getTime() + 10_000);
      await send(port);
    } finally {
      await listener.close();
    }
  });

  it('refuses connections beyond the limit with 421', async () => {
    const listener = createInboundListener({ ...base(), maxClients: 1 });
    const port = await listener.listen(0, '127.0.0.1');
    const holder = connect(port, '127.0.0.1');
    await new Promise((resolve) => holder.once('data', resolve));
    try {
      const error = await failure(send(port));
      assert.equal(error.responseCode, 421);
    } finally {
      holder.destroy();
      await listener.close();
    }
  });

  it("a report claimed by a worker that died is processed by the next one once the lease lapses", async () => {
    const listener = createInboundListener(base());
    const port = await listener.listen(0, '127.0.0.1');
    await send(port);
    await listener.close();
    const db = h.database.db;
    const start = new Date(Date.now() + 3_600_000);
    // The dead worker's claim: leased, never finished.
    const dead = await claimReports(db, 100, start, 60_000);
    assert.ok(dead.length >= 1);
    const deps = { db, logger: createLogger('silent'), verify: async () => null, hostname: 'mta.test', bounceDomain: 'bounce.test', fblAddress: FBL, rules: { softBounceLimit: 5, softBounceWindowDays: 7 } };
    assert.equal(await createInboundReportsJob({ ...deps, now: () => new Date(start.getTime() + 30_000) }).runOnce(), 0);
    assert.equal(await createInboundReportsJob({ ...deps, now: () => new Date(start.getTime() + 61_000) }).runOnce(), dead.length);
    const rows = await db.selectFrom('inbound_reports').select(['status', 'attempts']).where('id', 'in', dead.map((d) => d.id)).execute();
    for (const row of rows) assert.deepEqual(row, { status: 'unmatched', attempts: 2 });
  });

  it('a report whose processing throws is retried later and then failed, without holding back the rest of its batch', async () => {
    const db = h.database.db;
    const at = new Date(Date.now() + 7_200_000);
    await db.deleteFrom('inbound_reports').execute();
    const raw = Buffer.from(dsnMail({ recipient: 'x@rcpt.test' }));
    const bad = await storeReport(db, { remoteIp: null, mailFrom: null, rcptTo: ['b-msg_poison.000000000000000000000000@bounce.test'], raw, messageId: null }, at);
    const good = await storeReport(db, { remoteIp: null, mailFrom: null, rcptTo: [FBL], raw, messageId: null }, at);
    const verify = async (_purpose: string, token: string) => {
      if (token.startsWith('msg_poison')) throw new Error('poisoned token');
      return null;
    };
    let now = at;
    const job = createInboundReportsJob({ db, logger: createLogger('silent'), verify, hostname: 'mta.test', bounceDomain: 'bounce.test', fblAddress: FBL, rules: { softBounceLimit: 5, softBounceWindowDays: 7 }, now: () => now });
    assert.equal(await job.runOnce(), 2);
    const row = (id: string) => db.selectFrom('inbound_reports').select(['status', 'attempts', 'error']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal((await row(good)).status, 'unmatched');
    assert.deepEqual(await row(bad), { status: 'pending', attempts: 1, error: 'poisoned token' });
    for (let attempt = 2; attempt <= 5; attempt++) {
      now = new Date(now.getTime() + 3_600_000);
      assert.equal(await job.runOnce(), 1);
    }
    assert.deepEqual(await row(bad), { status: 'failed', attempts: 5, error: 'poisoned token' });
    const listed = await h.call({ method: 'GET', url: '/v1/inbound?status=failed' });
    assert.deepEqual(listed.json().data.map((r: { id: string }) => r.id), [bad]);
  });
});
