import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const BIN = path.join(import.meta.dirname, '..', 'bin', 'mailerdash.js');
const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-cli-'));
const env = { ...process.env, MAILERDASH_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', MAILERDASH_ADMIN_KEY: '' };

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
    const child = spawn(process.execPath, [BIN, 'start'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1' } });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    let health: Response | null = null;
    while (!health && Date.now() < deadline) {
      health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      if (!health) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(health?.status, 200);
    const secret = /(md_[A-Za-z0-9_-]{20,})/.exec(stdout)?.[1];
    assert.ok(secret, `an admin key is printed: ${stdout}`);
    const keys = await fetch(`http://127.0.0.1:${port}/v1/keys`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(keys.status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
