import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { BIN, startCli, waitForHealth } from '../test/support/cli-process.ts';
import { freePort } from '../test/support/ports.ts';
import { createScratchDatabase } from '../test/support/scratch-postgres.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-cli-'));
const env = { ...process.env, MAILERDASH_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', MAILERDASH_ADMIN_KEY: '', MAILERDASH_INBOUND_PORT: '0' };


/** Rows of the CLI import test: the 100,000 (CLI_IMPORT_ROWS makes it smaller while iterating). */
const IMPORT_ROWS = Number(process.env.CLI_IMPORT_ROWS ?? 100_000);

/** Like run, without blocking the event loop (the server under test is a child of this process, too). */
function runAsync(args: string[], extra: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return startCli(args, { ...env, ...extra }).exited;
}

function run(args: string[], extra: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 60_000 });
}

describe('mailerdash binary', () => {
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses a bad configuration, naming the variable', () => {
    const result = run(['migrate'], { PORT: 'eighty' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /PORT: must be a whole number/);
  });

  it('keys locally; beside a running start: keys, contacts import with progress and export through its API; stops on SIGTERM', async () => {
    // Not an admin key, so start still creates (and prints) the first admin key.
    const created = run(['keys', 'create', '--name', 'ops', '--domain', 'ops.example']);
    assert.equal(created.status, 0, created.stderr);
    const key = JSON.parse(created.stdout);
    assert.match(key.id, /^key_/);
    assert.match(key.key, /^md_/);
    assert.equal(key.admin, false);

    const port = await freePort();
    const submissionPort = await freePort();
    const child = spawn(process.execPath, [BIN, 'start'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1', MAILERDASH_SUBMISSION_PORT: String(submissionPort) } });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      assert.ok(await waitForHealth(port), 'start serves /healthz');
      const second = run(['migrate']);
      assert.equal(second.status, 1, 'a second process on the same embedded data directory is refused');
      assert.match(second.stderr, /in use by process/);
      assert.match(stdout, /Setup problems that will hurt real mail[\s\S]*MAILERDASH_SMTP_URL: no relay is configured/, 'outbox mode is said out loud');
      const secret = /(md_[A-Za-z0-9_-]{20,})/.exec(stdout)?.[1];
      assert.ok(secret, `an admin key is printed: ${stdout}`);
      assert.equal((await fetch(`http://127.0.0.1:${port}/v1/keys`, { headers: { authorization: `Bearer ${secret}` } })).status, 200);
      assert.match(await smtpGreeting(submissionPort), /^220 .*MailerDash submission/, 'start serves SMTP submission too');

      // The embedded database is the server's: these go through its API.
      const listed = await runAsync(['keys', 'list']);
      assert.equal(listed.status, 0, listed.stderr);
      const lines = listed.stdout.trim().split('\n');
      assert.match(lines[0]!, /^ID\s+ROLE\s+STATE\s+NAME$/, 'a header row');
      assert.ok(lines.some((l) => new RegExp(`^${key.id}\\s+key\\s+active\\s+ops$`).test(l)), listed.stdout);
      assert.equal((await runAsync(['keys', 'revoke', key.id])).status, 0);
      assert.match((await runAsync(['keys', 'list'])).stdout, new RegExp(`${key.id}\\s+key\\s+revoked`));
      const again = await runAsync(['keys', 'revoke', key.id]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /no active key/);

      const file = path.join(dataDir, 'contacts.csv');
      writeFileSync(file, ['email,name,plan', ...Array.from({ length: IMPORT_ROWS }, (_, i) => `reader${i}@example.com,Reader ${i},${i % 3 ? 'free' : 'pro'}`)].join('\n') + '\n');
      const imported = await runAsync(['contacts', 'import', file]);
      assert.equal(imported.status, 0, imported.stderr);
      assert.deepEqual(JSON.parse(imported.stdout), { created: IMPORT_ROWS, updated: 0, failed: 0, errors: [] });
      const progress = imported.stderr.split('\n').filter((l) => /^importing .*: [\d.]+ of [\d.]+ MB \(\d+%\), [\d.]+ MB\/s, ETA/.test(l));
      assert.ok(progress.length >= 2, `plain progress lines of the upload when not on a terminal: ${imported.stderr}`);
      assert.match(progress.at(-1)!, /\(100%\)/);
      // Beside a running server the import is a job, followed by polling it.
      const rows = imported.stderr.split('\n').filter((l) => /^importing .* \(imp_[0-9a-z]+\): \d+ of \d+ rows \(\d+%\), \d+ rows\/s, ETA/.test(l));
      assert.ok(rows.length >= 2, `plain progress lines of the import job: ${imported.stderr}`);
      assert.match(rows.at(-1)!, new RegExp(`: ${IMPORT_ROWS} of ${IMPORT_ROWS} rows \\(100%\\)`));
      const jobId = /\((imp_[0-9a-z]+)\)/.exec(rows[0]!)![1];
      const job = await (await fetch(`http://127.0.0.1:${port}/v1/bulk/imports/${jobId}`, { headers: { authorization: `Bearer ${secret}` } })).json();
      assert.deepEqual([job.status, job.rows_total, job.created], ['completed', IMPORT_ROWS, IMPORT_ROWS]);
      const exported = await runAsync(['contacts', 'export']);
      assert.equal(exported.status, 0, exported.stderr);
      assert.equal(exported.stdout.trim().split('\n').length, IMPORT_ROWS + 1, 'a header and every contact');
      const missing = await runAsync(['contacts', 'import', path.join(dataDir, 'nope.csv')]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /cannot read .*nope\.csv: ENOENT/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('submission runs the SMTP relay alone, announcing the API body limit as SIZE', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'submission'], { env: { ...env, HOST: '127.0.0.1', MAILERDASH_SUBMISSION_PORT: String(port), MAILERDASH_BODY_LIMIT: '123456' } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const deadline = Date.now() + 90_000; // a bound for a loaded machine, not a timing
      let ehlo = '';
      while (Date.now() < deadline && !ehlo) ehlo = await smtpGreeting(port, 'EHLO cli.test\r\n').catch(() => '');
      assert.match(ehlo, /250[ -]SIZE 123456/);
      assert.doesNotMatch(ehlo, /STARTTLS/, 'no certificate configured, so no STARTTLS');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});

/** What an SMTP server says on connecting (and to `send`, if given), read until it pauses. */
async function smtpGreeting(port: number, send = ''): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let sent = false;
    socket.on('error', reject);
    // A listener that is not up yet may take the connection and drop it: that is an answer too (the caller retries).
    socket.on('close', () => reject(new Error(`closed before a reply: ${text}`)));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no reply within 10 s')));
    socket.on('data', (chunk) => {
      text += chunk;
      if (!sent && send && /^220 /m.test(text)) {
        sent = true;
        text = '';
        socket.write(send);
      } else if (/^\d{3} /m.test(text)) {
        socket.end('QUIT\r\n');
        resolve(text);
      }
    });
  });
}

describe('mailerdash on PostgreSQL', { skip: !process.env.TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, () => {
  it('two api processes and a worker start at once on one database; one admin key is created', async () => {
    const url = process.env.TEST_DATABASE_URL!;
    const scratch = await createScratchDatabase(url, 'md_cli');
    const target = new URL(scratch.url);
    const [base, second] = [await freePort(), await freePort()];
    const children = [['api', base], ['api', second], ['worker', 0]].map(([role, port]) => {
      const child = spawn(process.execPath, [BIN, String(role)], { env: { ...env, DATABASE_URL: target.toString(), PORT: String(port), HOST: '127.0.0.1' } });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      return { child, output: () => out, exited: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
    });
    try {
      assert.ok(await waitForHealth(base));
      assert.ok(await waitForHealth(second));
      const db = new pg.Client({ connectionString: target.toString() });
      await db.connect();
      const keys = await db.query('select count(*)::int as n from api_keys where admin');
      const migrations = await db.query('select count(*)::int as n from kysely_migration');
      const files = (await import('node:fs')).readdirSync(path.join(import.meta.dirname, 'db', 'migrations')).filter((f) => /^\d{4}_.*\.ts$/.test(f));
      await db.end();
      assert.equal(keys.rows[0].n, 1, 'exactly one first admin key');
      assert.equal(migrations.rows[0].n, files.length, 'every migration applied once');
      const printed = children.filter((c) => /md_[A-Za-z0-9_-]{20,}/.test(c.output()));
      assert.equal(printed.length, 1, 'the key is printed by one process only');
      for (const c of children) c.child.kill('SIGTERM');
      for (const c of children) assert.equal(await c.exited, 0);
    } finally {
      for (const c of children) c.child.kill('SIGKILL');
      await scratch.drop();
    }
  });
});
