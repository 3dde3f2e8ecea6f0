import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { CliError, expectOk, type ApiClient } from './api-client.ts';
import { byteProgress, rowProgress } from './progress.ts';

interface ImportResult {
  created: number;
  updated: number;
  failed: number;
  errors: Array<{ index: number; email: string | null; code: string }>;
}

interface ImportJob {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  rows_total: number;
  rows_read: number;
  result: ImportResult | null;
  error: { code: string; message: string } | null;
}

const POLL_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The upload, with its bytes as progress; answers the API's JSON. */
async function upload<T>(api: ApiClient, file: string, size: number, type: string, query: string): Promise<T> {
  const progress = byteProgress(`importing ${file}`, size);
  let sent = 0;
  const source = createReadStream(file);
  source.on('data', (chunk) => progress.update((sent += chunk.length)));
  try {
    return await expectOk<T>(
      await api.request('POST', `/v1/bulk/contacts/import${query}`, { body: Readable.toWeb(source) as unknown as BodyInit, headers: { 'content-type': type }, duplex: 'half' }),
    );
  } finally {
    progress.stop();
  }
}

/** Polls the job until it ends, with its rows read as progress; answers its result. */
async function follow(api: ApiClient, file: string, accepted: ImportJob): Promise<ImportResult> {
  const progress = rowProgress(`importing ${file} (${accepted.id})`, accepted.rows_total);
  try {
    for (let job = accepted; ; ) {
      progress.update(job.rows_read);
      if (job.status === 'completed' && job.result) return job.result;
      if (job.status === 'failed') throw new CliError(`import ${job.id} failed: ${job.error?.message ?? 'unknown'}${job.error ? ` [${job.error.code}]` : ''}`);
      await sleep(POLL_MS);
      job = await expectOk<ImportJob>(await api.request('GET', `/v1/bulk/imports/${encodeURIComponent(job.id)}`));
    }
  } finally {
    progress.stop();
  }
}

/**
 * contacts import FILE. Beside a running server it is an import job (the server's workers run it and
 * this command follows it); through an API of its own, which has no workers, the synchronous import.
 */
export async function importContacts(api: ApiClient, file: string, size: number, type: string): Promise<void> {
  const result = api.remote ? await follow(api, file, await upload<ImportJob>(api, file, size, type, '?async=true')) : await upload<ImportResult>(api, file, size, type, '');
  console.log(JSON.stringify({ created: result.created, updated: result.updated, failed: result.failed, errors: result.errors.slice(0, 20) }, null, 2));
  if (result.failed) process.exitCode = 1;
}
