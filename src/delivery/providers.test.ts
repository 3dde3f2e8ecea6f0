import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { startSmtpSink } from '../../test/support/smtp-sink.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { providersFromConfig } from '../workers/delivery.ts';
import { isCoalescing } from './batching.ts';

const message = (id: string) => ({ id, envelopeFrom: 'b@bounce.test', recipient: 'ana@example.com', raw: Buffer.from('Subject: x\r\n\r\nhi\r\n') });

describe('providers', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('without MAILERDASH_PROVIDERS the one default is the outbox, or the MAILERDASH_SMTP_URL relay', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'providers-'));
    dirs.push(dir);
    const outbox = providersFromConfig(loadConfig({ MAILERDASH_DATA_DIR: dir }));
    assert.equal(outbox.defaultName, 'outbox');
    assert.equal((await outbox.get(null).send(message('msg_a'))).outcome, 'accepted');
    assert.deepEqual(await readdir(path.join(dir, 'outbox')), ['msg_a.eml']);
    const relay = providersFromConfig(loadConfig({ MAILERDASH_SMTP_URL: 'smtp://127.0.0.1:2525' }));
    assert.deepEqual([relay.defaultName, relay.names], ['smtp', ['smtp']]);
  });

  it('names providers from JSON or a file, with a default, each behind the transport interface', async () => {
    const sink = await startSmtpSink();
    after(() => sink.close());
    const dir = await mkdtemp(path.join(os.tmpdir(), 'providers-'));
    dirs.push(dir);
    const file = path.join(dir, 'providers.json');
    await writeFile(file, JSON.stringify({ 'smtp-main': { type: 'smtp', url: sink.url() }, archive: { type: 'outbox', dir: path.join(dir, 'archive') } }));
    const set = providersFromConfig(loadConfig({ MAILERDASH_PROVIDERS: file, MAILERDASH_DEFAULT_PROVIDER: 'archive' }));
    assert.equal(set.defaultName, 'archive');
    assert.equal((await set.get('smtp-main').send(message('msg_b'))).outcome, 'accepted');
    assert.equal((await set.get(null).send(message('msg_c'))).outcome, 'accepted');
    await set.close();
    assert.equal(sink.received.length, 1);
    assert.deepEqual(await readdir(path.join(dir, 'archive')), ['msg_c.eml']);
  });

  it('an email service provider is one more type, checked against its schema; one with a batch endpoint gathers send() calls', async () => {
    const providers = {
      'ses-a': { type: 'ses', region: 'eu-west-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 's' },
      'sg-b': { type: 'sendgrid', api_key: 'SG.x' },
    };
    const set = providersFromConfig(loadConfig({ MAILERDASH_PROVIDERS: JSON.stringify(providers), MAILERDASH_DEFAULT_PROVIDER: 'sg-b' }));
    assert.deepEqual([set.defaultName, set.names], ['sg-b', ['ses-a', 'sg-b']]);
    assert.deepEqual([set.get('ses-a').name, isCoalescing(set.get('ses-a')), set.get(null).name, isCoalescing(set.get(null))], ['ses', false, 'sendgrid', true]);
    await set.close();
    assert.throws(
      () => loadConfig({ MAILERDASH_PROVIDERS: JSON.stringify({ 'ses-a': { type: 'ses', region: 'nowhere', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 's' } }) }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'MAILERDASH_PROVIDERS' && /provider ses-a: .*\/region/.test(e.message),
    );
  });

  const bad: Array<[Record<string, string>, string]> = [
    [{ MAILERDASH_PROVIDERS: '{"m":{"type":"mailgun","api_key":"k"}}' }, 'MAILERDASH_PROVIDERS'],
    [{ MAILERDASH_PROVIDERS: '{"p":{"type":"postmark","server_token":"t","surprise":1}}' }, 'MAILERDASH_PROVIDERS'],
    [{ MAILERDASH_PROVIDERS: '{"x":{"type":"carrier-pigeon"}}' }, 'MAILERDASH_PROVIDERS'],
    [{ MAILERDASH_PROVIDERS: '{"x":{"type":"smtp"}}' }, 'MAILERDASH_PROVIDERS'],
    [{ MAILERDASH_PROVIDERS: '{"x":{"type":"smtp","url":"http://relay"}}' }, 'MAILERDASH_PROVIDERS'],
    [{ MAILERDASH_PROVIDERS: '/nonexistent/providers.json' }, 'MAILERDASH_PROVIDERS'],
    [{ MAILERDASH_PROVIDERS: '{"x":{"type":"outbox"}}', MAILERDASH_DEFAULT_PROVIDER: 'y' }, 'MAILERDASH_DEFAULT_PROVIDER'],
    [{ MAILERDASH_DEFAULT_PROVIDER: 'y' }, 'MAILERDASH_DEFAULT_PROVIDER'],
  ];
  for (const [env, variable] of bad) {
    it(`rejects ${JSON.stringify(env)} naming ${variable}`, () => {
      assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.variable === variable);
    });
  }
});
