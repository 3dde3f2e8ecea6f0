import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, startCli, waitForHealth, waitForOutput } from '../test/support/cli-process.ts';
import { freePort } from '../test/support/ports.ts';
import { startDnsServer, type TestDnsServer } from '../test/support/dns-server.ts';
import { startSmtpSink, type SmtpSink } from '../test/support/smtp-sink.ts';

const SEND_AT_LATER = () => Math.floor(Date.now() / 1000) + 3600;

// The long-running commands against a real `mailerdash start` on PGlite (the CLI cannot open the
// database it holds, so it goes through the server's API), delivering into a real SMTP sink.
describe('mailerdash campaigns send --watch, batches submit --watch and messages tail beside a running server', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-cli-watch-'));
  let port: number;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let sink: SmtpSink;
  let dns: TestDnsServer;
  let server: ReturnType<typeof spawn>;
  let serverExited: Promise<number | null>;
  let secret: string;
  const cli = (args: string[]) => startCli(args, { ...env, MAILERDASH_API_KEY: secret });
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${secret}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${text}`);
    return JSON.parse(text);
  };

  before(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    sink = await startSmtpSink({ onRecipient: (address) => (address.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : null) });
    dns = await startDnsServer({ 'rcpt.test': [{ type: 'MX', exchange: 'mx.rcpt.test', priority: 10 }] });
    env = {
      ...process.env,
      MAILERDASH_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      MAILERDASH_ADMIN_KEY: '',
      MAILERDASH_URL: '',
      MAILERDASH_INBOUND_PORT: '0',
      MAILERDASH_SMTP_URL: sink.url(),
      MAILERDASH_DNS_SERVERS: dns.address,
      MAILERDASH_HOSTNAME: 'mta.news.test',
    };
    server = spawn(process.execPath, [BIN, 'start'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1', MAILERDASH_SUBMISSION_PORT: String(await freePort()) }, stdio: 'ignore' });
    serverExited = new Promise((resolve) => server.on('exit', resolve));
    assert.ok(await waitForHealth(port), 'start serves /healthz');
    // A key of its own with a verified sending domain, made by the CLI through the server's API.
    const created = await startCli(['keys', 'create', '--name', 'news', '--domain', 'news.test'], env).exited;
    assert.equal(created.status, 0, created.stderr);
    secret = JSON.parse(created.stdout).key;
  });

  after(async () => {
    server.kill('SIGTERM');
    assert.equal(await serverExited, 0);
    await sink.close();
    await dns.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('messages tail prints a line for a message sent after it started, until stopped', async () => {
    const send = (to: string) =>
      fetch(`${base}/v1/mail/send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ personalizations: [{ to: [{ email: to }] }], from: { email: 'hi@news.test' }, subject: 'Hi', content: [{ type: 'text/plain', value: 'Hi' }] }),
      }).then((res) => res.headers.get('x-message-id'));
    const tail = cli(['messages', 'tail']);
    try {
      // The first line shows the tail is running; the second message is sent only after it.
      await send('first@rcpt.test');
      await waitForOutput(tail, (out) => /\tfirst@rcpt\.test/.test(out), 'line for the first message');
      assert.ok(await send('later@rcpt.test'));
      await waitForOutput(tail, (out) => /\tsent\tlater@rcpt\.test/.test(out), 'sent line for the message sent after the tail started');
      assert.match(tail.stdout(), /^\S+\tmsg_\S+\t\w+\tfirst@rcpt\.test/m);
    } finally {
      tail.child.kill('SIGTERM');
    }
    const ended = await tail.exited;
    assert.ok(ended.status !== 0 || ended.stderr === '', 'stopped by the signal, not by an error');
  });

  it('campaigns send --watch refuses localhost links without the override, then follows the campaign to the end', async () => {
    const list = await call('POST', '/v1/bulk/lists', { name: 'Readers' });
    await call('POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: ['r1@rcpt.test', 'r2@rcpt.test', 'r3@rcpt.test', 'gone@rcpt.test'] });
    const template = await call('POST', '/v1/bulk/templates', { name: 'News', subject: 'News for {{ email }}', html: '<p>Hello</p>' });
    const campaign = await call('POST', '/v1/bulk/campaigns', { name: 'News', list_id: list.id, template_id: template.id, from_email: 'news@news.test' });

    const refused = await cli(['campaigns', 'send', campaign.id, '--watch']).exited;
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /HTTP 409: .*allow_local_links/);

    const watched = await cli(['campaigns', 'send', campaign.id, '--watch', '--allow-local-links']).exited;
    assert.equal(watched.status, 0, watched.stderr);
    const lines = watched.stdout.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^campaign ${campaign.id}: `));
    assert.match(lines.at(-1)!, /: 4 recipients, 3 sent, 0 pending, 1 bounced, 0 failed or dropped$/, watched.stdout);
    assert.equal(sink.countFor('r1@rcpt.test'), 1);
  });

  it('batches submit --watch: a JSON body followed to its outcome; CSV recipients with flags; a cancelled batch; clear errors', async () => {
    const body = path.join(dataDir, 'batch.json');
    const recipients = Array.from({ length: 20 }, (_, i) => ({ email: `b${i}@rcpt.test`, name: `Reader ${i}` }));
    writeFileSync(body, JSON.stringify({ from: { email: 'news@news.test' }, subject: 'Hi {{ name }}', content: [{ type: 'text/plain', value: 'Hi {{ name }}' }], recipients: [...recipients, { email: 'not-an-address' }] }));
    const done = await cli(['batches', 'submit', body, '--watch']).exited;
    assert.equal(done.status, 0, done.stderr);
    const id = /^batch (batch_\S+): accepted; 20 accepted, 1 rejected/m.exec(done.stdout)?.[1];
    assert.ok(id, done.stdout);
    assert.match(done.stdout, new RegExp(`^batch ${id}: completed \\(success\\); 20 accepted, 1 rejected; 20 sent, 0 bounced, 0 failed, 0 dropped$`, 'm'));
    assert.match(done.stderr, /^uploading .*batch\.json: [\d.]+ of [\d.]+ MB \(100%\)/m, 'plain upload progress off a terminal');
    assert.match(done.stderr, new RegExp(`^batch ${id}: \\d+ of 20 msg \\(\\d+%\\), [\\d.]+ msg/s, ETA`, 'm'), 'plain sending progress lines');
    assert.match(done.stderr, new RegExp(`^batch ${id}: 20 of 20 msg \\(100%\\)`, 'm'));
    assert.equal(sink.countFor('b7@rcpt.test'), 1);

    const csv = path.join(dataDir, 'recipients.csv');
    writeFileSync(csv, 'email,name,plan\nc1@rcpt.test,Ana,pro\ngone2@rcpt.test,Bo,free\n');
    writeFileSync(path.join(dataDir, 'body.txt'), 'Hi {{ name }}, on {{ plan }}');
    const fromCsv = await cli(['batches', 'submit', csv, '--from', 'news@news.test', '--subject', 'Plan {{ plan }}', '--text', path.join(dataDir, 'body.txt'), '--watch']).exited;
    assert.equal(fromCsv.status, 0, fromCsv.stderr);
    assert.match(fromCsv.stdout, /: completed \(success\); 2 accepted, 0 rejected; 1 sent, 1 bounced, 0 failed, 0 dropped$/m);
    const mail = sink.received.find((m) => m.to.includes('c1@rcpt.test'));
    assert.match(mail!.raw.toString(), /Subject: Plan pro[\s\S]*Hi Ana, on pro/);

    // Held for an hour, then cancelled while watched: it ends cancelled, exit code 4.
    writeFileSync(body, JSON.stringify({ from: { email: 'news@news.test' }, subject: 'Later', content: [{ type: 'text/plain', value: 'Later' }], send_at: SEND_AT_LATER(), recipients }));
    const watching = cli(['batches', 'submit', body, '--watch']);
    await waitForOutput(watching, (out) => /^batch batch_\S+: accepted/m.test(out), 'accepted line');
    const held = /^batch (batch_\S+): accepted/m.exec(watching.stdout())![1]!;
    await call('POST', `/v1/batches/${held}/cancel`);
    const cancelled = await watching.exited;
    assert.equal(cancelled.status, 4, cancelled.stderr);
    assert.match(cancelled.stdout, new RegExp(`^batch ${held}: cancelled; 20 accepted, 0 rejected; 0 sent, 0 bounced, 0 failed, 20 dropped$`, 'm'));

    const missing = await cli(['batches', 'submit', path.join(dataDir, 'nope.json')]).exited;
    assert.deepEqual([missing.status, /cannot read .*nope\.json: ENOENT/.test(missing.stderr)], [1, true], missing.stderr);
    const noFrom = await cli(['batches', 'submit', csv]).exited;
    assert.deepEqual([noFrom.status, /needs --from EMAIL/.test(noFrom.stderr)], [1, true], noFrom.stderr);
    writeFileSync(body, JSON.stringify({ subject: 'No from', recipients }));
    const invalid = await cli(['batches', 'submit', body]).exited;
    assert.deepEqual([invalid.status, /^mailerdash: HTTP 4\d\d: /m.test(invalid.stderr)], [1, true], invalid.stderr);
  });
});
