// Fuzzes every POST and PATCH route the app publishes in its own /openapi.json (so a new route is
// covered without touching this file) with bodies generated from the route's schema, some values
// broken on purpose, and asserts that none answers 500. Seeded and bounded: the same requests every run.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.ts';
import { describeEachEngine } from '../support/engines.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';
import { arbitraryFor, extraUrls, type JsonSchema } from '../support/schema-arbitrary.ts';

/** Fixed, so CI sends the same requests every run; FUZZ_SEED=N tries other ones by hand. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
/** Requests per operation and round; two rounds, so the second reaches objects the first created. 6 keeps CI in its budget; FUZZ_RUNS=64 sends the ~9,000 requests of the issue. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 6);

interface Operation {
  method: 'POST' | 'PATCH';
  path: string;
  body: JsonSchema | null;
  params: Array<{ in: string; name: string; schema: JsonSchema }>;
}

function operations(doc: { paths: Record<string, Record<string, any>> }): Operation[] {
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of ['post', 'patch'] as const) {
      const op = ops[method];
      if (!op) continue;
      out.push({
        method: method.toUpperCase() as Operation['method'],
        path,
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
        params: (op.parameters ?? []).map((p: any) => ({ in: p.in, name: p.name, schema: p.schema ?? { type: 'string' } })),
      });
    }
  }
  return out;
}

/** Ids, emails and names that 2xx answers carried, so later requests name real objects. */
function harvest(value: unknown, into: Set<string>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string' && (k === 'id' || k.endsWith('_id') || k === 'email' || k === 'domain' || k === 'name') && v.length < 200) into.add(v);
    else harvest(v, into, depth + 1);
  }
}

/** A path parameter as a client can send it: a lone surrogate has no UTF-8 form, so it goes as U+FFFD. */
function pathSegment(value: unknown): string {
  return encodeURIComponent(Buffer.from(String(value ?? 'x'), 'utf8').toString('utf8'));
}

describeEachEngine('fuzz: every POST and PATCH route', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let receiver: WebhookReceiver;
  let ops: Operation[];
  let userSecret: string;
  const pool = new Set<string>();

  before(async () => {
    dns = await startDnsServer({});
    receiver = await startWebhookReceiver();
    extraUrls.splice(0, extraUrls.length, receiver.url('/hook'), receiver.url('/hook'));
    h = await startHarness(engine, { MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
    const doc = (await h.call({ method: 'GET', url: '/openapi.json' })).json();
    ops = operations(doc);
    ({ secret: userSecret } = await h.newKey('fuzz user', ['example.com']));
  });
  after(async () => {
    await h.close();
    await dns.close();
    await receiver.close();
  });

  it('publishes the routes it fuzzes', () => {
    assert.ok(ops.length >= 30, `only ${ops.length} POST/PATCH operations in /openapi.json`);
  });

  it('answers no request with a 500', async () => {
    const failures: string[] = [];
    let sent = 0;
    const tally = new Map<string, number>();
    for (let round = 0; round < 2; round++) {
      for (const [index, op] of ops.entries()) {
        const known = () => [...pool].slice(-50);
        const param = (schema: JsonSchema, name: string) => fc.oneof({ arbitrary: arbitraryFor(schema, known, 0, 1, name), weight: 4 }, fc.string({ maxLength: 30 }));
        const request = fc.record({
          path: fc.record(Object.fromEntries(op.params.filter((p) => p.in === 'path').map((p) => [p.name, param(p.schema, p.name)]))),
          headers: fc.record(
            Object.fromEntries(op.params.filter((p) => p.in === 'header').map((p) => [p.name, arbitraryFor(p.schema, known).map(String)])),
            { requiredKeys: [] },
          ),
          body: op.body ? fc.oneof(arbitraryFor(op.body, known, 0, 0), arbitraryFor(op.body, known)) : fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
          asAdmin: fc.boolean(),
        });
        for (const sample of fc.sample(request, { seed: SEED + round * 1000 + index, numRuns: RUNS })) {
          const url = op.path.replace(/\{(\w+)\}/g, (_, name: string) => pathSegment((sample.path as Record<string, unknown>)[name]));
          const headers: Record<string, string> = { ...(sample.headers as Record<string, string>) };
          const hasBody = sample.body !== undefined;
          if (hasBody) headers['content-type'] = 'application/json';
          const response = await h.call({
            method: op.method,
            url,
            headers,
            ...(hasBody ? { payload: JSON.stringify(sample.body) } : {}),
            auth: sample.asAdmin ? undefined : userSecret,
          });
          sent++;
          // FUZZ_REPORT=1 prints how often each route answered each status, to see how deep the inputs reach.
          const tallyKey = `${op.method} ${op.path} ${response.statusCode}`;
          tally.set(tallyKey, (tally.get(tallyKey) ?? 0) + 1);
          if (response.statusCode >= 500) {
            failures.push(`${response.statusCode} ${op.method} ${url} ${JSON.stringify(sample.body)?.slice(0, 600)} -> ${response.body.slice(0, 200)}`);
          } else if (response.statusCode < 300 && response.body) {
            try {
              harvest(response.json(), pool);
            } catch {
              // a non-JSON success (e.g. CSV) names no objects
            }
          }
        }
      }
    }
    if (process.env.FUZZ_REPORT) console.error([...tally].sort().map(([k, n]) => `${k} x${n}`).join('\n'));
    assert.ok(sent >= ops.length * RUNS, `sent only ${sent} requests`);
    assert.deepEqual(failures.slice(0, 15), [], `${failures.length} of ${sent} requests answered 5xx`);
  });
});
