// Benchmark (not a test): the memory one /v1/mail/send with a BENCH_ATTACHMENT_MB (20) MB attachment
// costs, sent to BENCH_RECIPIENTS (10) personalizations through the real API and send job, DKIM-signed,
// into Postfix's smtp-sink. Peak RSS (the kernel's high-water mark, reset before the request) minus the
// baseline, as a multiple of the request body (goal: under 4×), and RSS once the send is done, after a GC.
// Each engine runs in a child process of its own.
//   npm run bench:attachment   (BENCH_ATTACHMENT_MB, BENCH_RECIPIENTS, BENCH_ENGINES=postgres,pglite-disk,pglite, BENCH_DATABASE_URL)
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { sql } from 'kysely';
import { runPerEngine } from './support/report.ts';
import { withSendingBench } from './support/sending-bench.ts';
import { buildApi } from '../src/http/app.ts';
import { createWorkerRunner } from '../src/workers/runner.ts';

const ATTACHMENT_MB = Number(process.env.BENCH_ATTACHMENT_MB ?? 20);
const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 10);
const GOAL = 4;
const MB = 1_048_576;
// The server runs PGlite on its data directory; in memory it is the test suite's engine, its table and WAL
// files inside the measured process.
const ENGINE_NOTES: Record<string, string> = { 'pglite-disk': ': PGlite on a data directory, as the server runs it', pglite: ': PGlite in memory, the tests\' engine' };

/** RSS and its high-water mark from /proc (bytes); `resetPeak` starts a new high-water mark (Linux clear_refs 5). */
function rss(): { now: number; peak: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
/** What the process's memory is made of: V8's heap, buffers outside it, and PGlite's WebAssembly memory. */
function memoryParts(wasmMemoryBytes?: () => number): () => Record<string, number> {
  return () => {
    const m = process.memoryUsage();
    return { 'JS heap': m.heapUsed, 'array buffers': m.arrayBuffers, ...(wasmMemoryBytes ? { 'PGlite wasm': wasmMemoryBytes() } : {}) };
  };
}
async function collect(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** POSTs the body as one Buffer written to the socket (no copy on this side of the benchmark). */
function post(port: number, secret: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/mail/send', method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': body.length } });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function child(engine: string): Promise<void> {
  await withSendingBench(engine, async ({ database, config, logger, context }) => {
    const { secret } = await context.services.keys.createKey({ name: 'bench', domains: ['bench.example'] });
    const app = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const runner = createWorkerRunner({ jobs: context.jobs, pollMs: config.workerPollMs, logger });
    context.onQueued(() => runner.wake());
    runner.start();

    const body = Buffer.from(
      JSON.stringify({
        personalizations: Array.from({ length: RECIPIENTS }, (_, i) => ({ to: [{ email: `reader${i}@example.org`, name: `Reader ${i}` }] })),
        from: { email: 'reports@bench.example', name: 'Bench' },
        subject: 'Your report',
        content: [{ type: 'text/plain', value: 'The report is attached.' }],
        attachments: [{ content: randomBytes(ATTACHMENT_MB * MB).toString('base64'), filename: 'report.bin', type: 'application/octet-stream' }],
      }),
    );
    // A small send first, so the baseline holds the code and pools every send uses.
    const warm = await post(port, secret, Buffer.from(JSON.stringify({ personalizations: [{ to: [{ email: 'warm@example.org' }] }], from: { email: 'reports@bench.example' }, subject: 'Warm', content: [{ type: 'text/plain', value: 'warm' }] })));
    if (warm.status !== 202) throw new Error(`warm-up send: ${warm.status} ${warm.text}`);
    const sent = async () => (await sql<{ n: number }>`select count(*)::int as n from messages where status = 'sent'`.execute(database.db)).rows[0]!.n;
    while ((await sent()) < 1) await new Promise((r) => setTimeout(r, 50));
    await collect();

    const baseline = rss().now;
    const exactPeak = resetPeak();
    let sampled = baseline;
    const parts = memoryParts(database.wasmMemoryBytes);
    const partsAtStart = parts();
    let partsPeak = { ...partsAtStart };
    const sampler = setInterval(() => {
      sampled = Math.max(sampled, rss().now);
      for (const [k, v] of Object.entries(parts())) partsPeak[k] = Math.max(partsPeak[k]!, v);
    }, 5);
    const started = process.hrtime.bigint();
    const res = await post(port, secret, body);
    if (res.status !== 202) throw new Error(`send: ${res.status} ${res.text.slice(0, 300)}`);
    const accepted = Number(process.hrtime.bigint() - started) / 1e9;
    const acceptPeak = exactPeak ? rss().peak : sampled;
    const acceptParts = partsPeak;
    partsPeak = { ...partsAtStart };
    if (exactPeak) resetPeak();
    while ((await sent()) < RECIPIENTS + 1) await new Promise((r) => setTimeout(r, 50));
    const delivered = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(sampler);
    const sendPeak = exactPeak ? rss().peak : sampled;
    const peak = Math.max(acceptPeak, sendPeak);
    await runner.stop();
    // The send job keeps a large content until it has been idle for LARGE_CONTENT_IDLE_MS (10 s).
    await new Promise((r) => setTimeout(r, 11_000));
    await collect();
    const after = rss().now;

    const ratio = (peak - baseline) / body.length;
    console.log(`\n[${engine}${ENGINE_NOTES[engine] ?? ''}] POST /v1/mail/send: ${(body.length / MB).toFixed(1)} MB body (${ATTACHMENT_MB} MB attachment) to ${RECIPIENTS} recipients, DKIM-signed, into smtp-sink`);
    console.log(`  accepted in ${accepted.toFixed(2)} s, all ${RECIPIENTS} delivered after ${delivered.toFixed(2)} s`);
    console.log(`  RSS baseline ${Math.round(baseline / MB)} MB, peak ${Math.round(peak / MB)} MB (${exactPeak ? 'kernel high-water mark' : 'sampled every 20 ms'})`);
    console.log(`  peak while accepting ${Math.round(acceptPeak / MB)} MB, while delivering ${Math.round(sendPeak / MB)} MB`);
    console.log(`  peak - baseline = ${((peak - baseline) / MB).toFixed(0)} MB = ${ratio.toFixed(2)}× the body; goal < ${GOAL}×: ${ratio < GOAL ? 'met' : 'NOT met'} (${Math.round((100 * ratio) / GOAL)}% of the goal)`);
    const growth = (peaks: Record<string, number>) => Object.entries(peaks).map(([k, v]) => `${k} +${((v - partsAtStart[k]!) / MB).toFixed(0)} MB`).join(', ');
    console.log(`  largest growth of each part (sampled every 5 ms) while accepting: ${growth(acceptParts)}; while delivering: ${growth(partsPeak)}`);
    console.log(`  RSS 11 s after the send${(globalThis as { gc?: unknown }).gc ? ' and a GC' : ' (no --expose-gc)'}: ${Math.round(after / MB)} MB (${((after - baseline) / MB).toFixed(0)} MB over the baseline)`);
    await app.close();
  });
}

if (!process.argv.includes('--engine')) console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
await runPerEngine(import.meta.url, child, { nodeArgs: ['--expose-gc'], defaultEngines: 'postgres,pglite-disk,pglite' });
process.exit(0);
