import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { EventSource } from 'eventsource';
import type { Config } from '../config.ts';
import { CliError, connectApi, expectOk, type ApiClient } from './api-client.ts';
import { batchHeader, recipientsBody } from './batch-body.ts';
import { byteProgress, countProgress } from './progress.ts';

/** Exit codes of `batches submit --watch` beyond 0 (success), 1 (an error) and 2 (usage). */
export const EXIT_BATCH_FAILURES = 3;
export const EXIT_BATCH_CANCELLED = 4;

interface BatchState {
  id?: string;
  batch_id?: string;
  status: string;
  outcome: string | null;
  counts: Record<string, number>;
}

const FINAL_MESSAGE_STATES = ['sent', 'bounced', 'failed', 'dropped'];
const settled = (counts: Record<string, number>) => FINAL_MESSAGE_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
const summary = (counts: Record<string, number>) =>
  `${counts.accepted ?? 0} accepted, ${counts.rejected ?? 0} rejected; ` + FINAL_MESSAGE_STATES.map((state) => `${counts[state] ?? 0} ${state}`).join(', ');

const OPTIONS = {
  watch: { type: 'boolean', default: false },
  format: { type: 'string' },
  'idempotency-key': { type: 'string' },
  from: { type: 'string' },
  'from-name': { type: 'string' },
  subject: { type: 'string' },
  template: { type: 'string' },
  html: { type: 'string' },
  text: { type: 'string' },
  channel: { type: 'string' },
} as const;

/**
 * batches submit FILE [--watch]: FILE is a POST /v1/batches body (.json), or recipients (.csv or
 * .ndjson) with the rest of the body from flags. With --watch, progress until the batch ends.
 */
export async function batchesCommand(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, options: OPTIONS });
  } catch (error) {
    throw new CliError(`batches submit: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (sub !== 'submit' || !file) throw new CliError('batches takes submit FILE [--watch] (FILE: .json body, or .csv/.ndjson recipients with --from and --template or --html/--text)');
  const format = values.format ?? file.slice(file.lastIndexOf('.') + 1).toLowerCase();
  if (format !== 'json' && format !== 'csv' && format !== 'ndjson' && format !== 'jsonl') throw new CliError(`batches submit: unknown format "${format}"; use --format json, csv or ndjson`);
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const header = format === 'json' ? null : batchHeader(values);
  const api = await connectApi(config);
  try {
    const accepted = await submit(api, file, size, header, format === 'csv' ? 'csv' : 'ndjson', values['idempotency-key']);
    const id = accepted.id!;
    console.log(`batch ${id}: ${accepted.status}; ${summary(accepted.counts)}`);
    if (!values.watch) return;
    const final = await watch(api, id, accepted.counts.accepted ?? 0);
    console.log(`batch ${id}: ${final.status}${final.outcome ? ` (${final.outcome})` : ''}; ${summary(final.counts)}`);
    if (final.status === 'cancelled') process.exitCode = EXIT_BATCH_CANCELLED;
    else if (final.outcome !== 'success') process.exitCode = EXIT_BATCH_FAILURES;
  } finally {
    await api.close();
  }
}

async function submit(api: ApiClient, file: string, size: number, header: Record<string, unknown> | null, format: 'csv' | 'ndjson', idempotencyKey: string | undefined): Promise<BatchState> {
  const progress = byteProgress(`uploading ${file}`, size);
  let body: Readable;
  let readError: Error | null = null;
  if (header) {
    body = recipientsBody(file, format, header, (read) => progress.update(read));
  } else {
    let sent = 0;
    body = createReadStream(file);
    body.on('data', (chunk) => progress.update((sent += chunk.length)));
  }
  body.on('error', (error) => (readError = error));
  try {
    const response = await api.request('POST', '/v1/batches', {
      body: Readable.toWeb(body) as unknown as BodyInit,
      headers: { 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      duplex: 'half',
    });
    return await expectOk<BatchState>(response);
  } catch (error) {
    // A file that could not be read or parsed says so, rather than the broken upload it caused.
    throw readError ?? error;
  } finally {
    progress.stop();
  }
}

/** Follows GET /v1/batches/{id}/events (resuming after Last-Event-ID on a dropped connection) until batch.completed. */
function watch(api: ApiClient, id: string, total: number): Promise<BatchState> {
  const progress = countProgress(`batch ${id}`, total, 'msg');
  const path = `/v1/batches/${encodeURIComponent(id)}/events`;
  return new Promise((resolve, reject) => {
    let status = '';
    const source = new EventSource(`${api.url}${path}`, {
      fetch: (_url, init) => api.request('GET', path, { headers: init.headers as Record<string, string>, signal: init.signal ?? undefined }),
    });
    const finish = (outcome: () => void) => {
      source.close();
      progress.stop();
      outcome();
    };
    const take = (event: MessageEvent) => {
      const state = (JSON.parse(event.data) as { data: BatchState }).data;
      if (state.status !== status && !process.stderr.isTTY) process.stderr.write(`batch ${id}: ${state.status}\n`);
      status = state.status;
      progress.update(settled(state.counts));
      if (event.type === 'batch.completed') finish(() => resolve(state));
    };
    source.addEventListener('batch.progress', take);
    source.addEventListener('batch.completed', take);
    // A refused stream (401, 404) is final; a dropped connection the client retries by itself.
    source.onerror = (event) => {
      if (source.readyState === EventSource.CLOSED) finish(() => reject(new CliError(`progress of batch ${id}: ${event.code ? `HTTP ${event.code}` : ''} ${event.message ?? ''}`.trim())));
    };
  });
}
