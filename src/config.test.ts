import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, VARIABLES } from './config.ts';

describe('config', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.databaseUrl, null);
    assert.match(config.dataDir, /\/data$/);
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.deepEqual(config.dnsServers, []);
  });

  it('reads values it is given', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgres://u@db:5432/mail',
      MAILERDASH_DNS_SERVERS: '127.0.0.1:5353, [::1]:53',
      MAILERDASH_PUBLIC_URL: 'https://mail.example.com/',
      MAILERDASH_HOSTNAME: 'MTA.example.com',
    });
    assert.equal(config.port, 8080);
    assert.equal(config.databaseUrl, 'postgres://u@db:5432/mail');
    assert.deepEqual(config.dnsServers, ['127.0.0.1:5353', '[::1]:53']);
    assert.equal(config.publicUrl, 'https://mail.example.com');
    assert.equal(config.hostname, 'mta.example.com');
    assert.equal(config.bounceDomain, 'mta.example.com');
  });

  const bad: Array<[string, string]> = [
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x@y/z'],
    ['DATABASE_URL', 'not a url'],
    ['MAILERDASH_ADMIN_KEY', 'short'],
    ['MAILERDASH_ADMIN_KEY', 'md_admin_31_chars_0123456789abc'],
    ['LOG_LEVEL', 'loud'],
    ['MAILERDASH_SMTP_URL', 'http://relay'],
    ['MAILERDASH_DNS_SERVERS', '127.0.0.1:53,bad server'],
    ['MAILERDASH_SECRET', 'too-short'],
    ['MAILERDASH_BULK_RATE', '-1'],
    ['MAILERDASH_HOSTNAME', 'under_score!'],
    ['MAILERDASH_SUBMISSION_PORT', '99999'],
    ['MAILERDASH_TLS_KEY', '/etc/key.pem'],
    ['MAILERDASH_SUBMISSION_IMPLICIT_TLS', 'true'],
    ['MAILERDASH_SUBMISSION_PLAINTEXT_LOOPBACK', 'yes'],
  ];
  for (const [name, value] of bad) {
    it(`rejects ${name}=${value} naming the variable`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.variable === name && error.message.startsWith(`${name}:`),
      );
    });
  }

  it('takes an admin key of 32 characters or more', () => {
    const key = 'md_admin_32_chars_0123456789abcd';
    assert.equal(key.length, 32);
    assert.equal(loadConfig({ MAILERDASH_ADMIN_KEY: key }).adminKey, key);
  });

  it('every variable is listed in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const variable of VARIABLES) assert.ok(readme.includes(`\`${variable.name}\``), `${variable.name} missing from README`);
  });
});
