import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { ListenError, runProcess } from './server.ts';

/** A port held by another listener for the test's length. */
async function heldPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('start with a port already taken', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'mailerdash-ports-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { MAILERDASH_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', MAILERDASH_INBOUND_PORT: '0', MAILERDASH_INBOUND_HOST: '127.0.0.1', MAILERDASH_SUBMISSION_PORT: '0', LOG_LEVEL: 'silent', MAILERDASH_HOSTNAME: 'mta.test' };
  const roles = { api: true, workers: false, submission: true, inbound: true };

  it('fails with an error naming the variable of the taken port, and frees what it had opened', async () => {
    const taken = await heldPort();
    try {
      for (const variable of ['MAILERDASH_SUBMISSION_PORT', 'MAILERDASH_INBOUND_PORT']) {
        const config = loadConfig({ ...env, [variable]: String(taken.port) });
        await assert.rejects(runProcess(config, roles, () => {}), (error: unknown) => {
          assert.ok(error instanceof ListenError, String(error));
          assert.equal(error.variable, variable);
          assert.match(error.message, new RegExp(`^${variable}: port ${taken.port} on 127\\.0\\.0\\.1 is already in use; .*set ${variable} to a free port`));
          return true;
        });
      }
    } finally {
      await taken.close();
    }
    // The embedded database and the listeners opened before were closed: the next start opens them again.
    const running = await runProcess(loadConfig(env), roles, () => {});
    assert.ok(running.submission && running.inbound && running.api);
    await running.shutdown();
  });
});
