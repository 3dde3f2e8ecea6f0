import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';

const run = promisify(execFile);

// The curl examples of seed 001, as written there; only the host is swapped for the test server.
const CREATE = `curl -X POST https://api.mailerdash.com/v1/bulk/contacts \\
  -H "Authorization: Bearer $MAILERDASH_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"email": "ana@empresa.com", "name": "Ana García", "metadata": {"plan": "pro", "signup_source": "landing"}}'`;

const IMPORT = `curl -X POST https://api.mailerdash.com/v1/bulk/contacts/import \\
  -H "Authorization: Bearer $MAILERDASH_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '[
    {"email": "ana@empresa.com", "name": "Ana García", "metadata": {"plan": "pro"}},
    {"email": "pedro@cliente.io", "name": "Pedro Sánchez", "metadata": {"region": "CDMX"}},
    {"email": "maria@otro.com"}
  ]'`;

describeEachEngine('seed 001 curl examples', (engine) => {
  let h: Harness;
  let key: { id: string; secret: string };
  let base: string;

  before(async () => {
    h = await startHarness(engine);
    key = await h.newKey('seed');
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => h.close());

  async function curl(command: string): Promise<{ status: number; body: any }> {
    const script = `${command.replace('https://api.mailerdash.com', base)} -s -w '\\n%{http_code}'`;
    const { stdout } = await run('bash', ['-c', script], { env: { ...process.env, MAILERDASH_API_KEY: key.secret } });
    const lines = stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    return { status, body: JSON.parse(lines.join('\n')) };
  }

  it('creates a contact with metadata: 201 with the full contact', async () => {
    const { status, body } = await curl(CREATE);
    assert.equal(status, 201);
    assert.deepEqual(
      { email: body.email, name: body.name, metadata: body.metadata, status: body.status, key_id: body.key_id },
      { email: 'ana@empresa.com', name: 'Ana García', metadata: { plan: 'pro', signup_source: 'landing' }, status: 'active', key_id: key.id },
    );
    assert.equal(typeof body.id, 'number');
  });

  it('bulk import: 207 with created, updated, failed, errors', async () => {
    const { status, body } = await curl(IMPORT);
    assert.equal(status, 207);
    assert.deepEqual(body, { created: 2, updated: 1, failed: 0, errors: [] });
    const ana = (await h.call({ method: 'GET', url: '/v1/bulk/contacts/ana@empresa.com', auth: key.secret })).json();
    assert.deepEqual(ana.metadata, { plan: 'pro' });
  });
});
