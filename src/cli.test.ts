import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createScratchDatabase } from '../test/support/scratch-postgres.ts';

const BIN = path.join(import.meta.dirname, '..', 'bin', 'mailerdash.js');
const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-cli-'));
const env = { ...process.env, MAILERDASH_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', MAILERDASH_ADMIN_KEY: '', MAILERDASH_INBOUND_PORT: '0' };

async function waitForHealth(port: number): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    if (res?.status === 200) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
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

  it('keys create, list and revoke on the embedded database', () => {
    const created = run(['keys', 'create', '--name', 'ops', '--admin', '--domain', 'ops.example']);
    assert.equal(created.status, 0, created.stderr);
    const key = JSON.parse(created.stdout);
    assert.match(key.id, /^key_/);
    assert.match(key.key, /^md_/);
    assert.equal(key.admin, true);
    const listed = run(['keys', 'list']);
    assert.match(listed.stdout, new RegExp(`${key.id}\\tadmin\\tactive\\tops`));
    assert.equal(run(['keys', 'revoke', key.id]).status, 0);
    assert.match(run(['keys', 'list']).stdout, new RegExp(`${key.id}\\tadmin\\trevoked`));
    const again = run(['keys', 'revoke', key.id]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /no active key/);
  });

  it('start prints a first admin key, serves, and stops cleanly on SIGTERM', async () => {
    const port = 41000 + Math.floor(Math.random() * 2000);
    const child = spawn(process.execPath, [BIN, 'start'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1', MAILERDASH_SUBMISSION_PORT: String(port + 1) } });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.ok(await waitForHealth(port), 'start serves /healthz');
    const second = run(['migrate']);
    assert.equal(second.status, 1, 'a second process on the same embedded data directory is refused');
    assert.match(second.stderr, /in use by process/);
    const secret = /(md_[A-Za-z0-9_-]{20,})/.exec(stdout)?.[1];
    assert.ok(secret, `an admin key is printed: ${stdout}`);
    const keys = await fetch(`http://127.0.0.1:${port}/v1/keys`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(keys.status, 200);
    assert.match(await smtpGreeting(port + 1), /^220 .*MailerDash submission/, 'start serves SMTP submission too');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('submission runs the SMTP relay alone, announcing the API body limit as SIZE', async () => {
    const port = 44000 + Math.floor(Math.random() * 2000);
    const child = spawn(process.execPath, [BIN, 'submission'], { env: { ...env, HOST: '127.0.0.1', MAILERDASH_SUBMISSION_PORT: String(port), MAILERDASH_BODY_LIMIT: '123456' } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
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
    const base = 42000 + Math.floor(Math.random() * 2000);
    const children = [['api', base], ['api', base + 1], ['worker', 0]].map(([role, port]) => {
      const child = spawn(process.execPath, [BIN, String(role)], { env: { ...env, DATABASE_URL: target.toString(), PORT: String(port), HOST: '127.0.0.1' } });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      return { child, output: () => out, exited: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
    });
    try {
      assert.ok(await waitForHealth(base));
      assert.ok(await waitForHealth(base + 1));
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
