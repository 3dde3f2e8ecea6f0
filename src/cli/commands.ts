import { statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { CliError, connectApi, expectOk, type ApiClient } from './api-client.ts';
import { importContacts } from './contacts-import.ts';

const TYPES: Record<string, string> = { csv: 'text/csv', ndjson: 'application/x-ndjson', jsonl: 'application/x-ndjson', json: 'application/json' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withApi<T>(config: Config, run: (api: ApiClient) => Promise<T>): Promise<T> {
  const api = await connectApi(config);
  try {
    return await run(api);
  } finally {
    await api.close();
  }
}

/** contacts import FILE [--format csv|ndjson|json] and contacts export [--format csv|ndjson] [--status S]. */
export async function contactsCommand(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { format: { type: 'string' }, status: { type: 'string' } } });
  if (sub === 'import') {
    const file = positionals[0];
    if (!file) throw new CliError('contacts import needs a FILE (.csv, .ndjson or .json)');
    const format = values.format ?? file.slice(file.lastIndexOf('.') + 1).toLowerCase();
    const type = TYPES[format];
    if (!type) throw new CliError(`contacts import: unknown format "${format}"; use --format csv, ndjson or json`);
    let size: number;
    try {
      size = statSync(file).size;
    } catch (error) {
      throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    await withApi(config, (api) => importContacts(api, file, size, type));
  } else if (sub === 'export') {
    const format = values.format ?? 'csv';
    if (format !== 'csv' && format !== 'ndjson') throw new CliError('contacts export: --format is csv or ndjson');
    const status = values.status ? `&status=${encodeURIComponent(values.status)}` : '';
    await withApi(config, async (api) => {
      if (format === 'csv') {
        const response = await api.request('GET', `/v1/bulk/contacts?format=csv${status}`);
        if (!response.ok) await expectOk(response);
        for await (const chunk of Readable.fromWeb(response.body! as never)) if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        return;
      }
      for (let offset = 0; ; offset += 1000) {
        const page = await expectOk<{ data: unknown[]; total: number }>(await api.request('GET', `/v1/bulk/contacts?limit=1000&offset=${offset}${status}`));
        if (page.data.length) process.stdout.write(page.data.map((c) => JSON.stringify(c)).join('\n') + '\n');
        if (page.data.length < 1000) return;
      }
    });
  } else {
    throw new CliError('contacts takes import FILE or export');
  }
}

interface Stats {
  recipients: number;
  pending: number;
  sent: number;
  bounced: number;
  failed: number;
  dropped: number;
  dispatch_complete: boolean;
}

/** campaigns send ID [--watch] [--allow-local-links]: queues it, then (with --watch) shows progress until it is done. */
export async function campaignsCommand(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { watch: { type: 'boolean', default: false }, 'allow-local-links': { type: 'boolean', default: false } } });
  const id = positionals[0];
  if (sub !== 'send' || !id) throw new CliError('campaigns takes send ID [--watch]');
  await withApi(config, async (api) => {
    const query = values['allow-local-links'] ? '?allow_local_links=true' : '';
    const campaign = await expectOk<{ id: string; status: string }>(await api.request('POST', `/v1/bulk/campaigns/${encodeURIComponent(id)}/send${query}`));
    console.log(`campaign ${campaign.id}: ${campaign.status}`);
    if (!values.watch) return;
    let last = '';
    for (;;) {
      const [stats, now] = await Promise.all([
        expectOk<Stats>(await api.request('GET', `/v1/bulk/campaigns/${encodeURIComponent(id)}/stats`)),
        expectOk<{ status: string }>(await api.request('GET', `/v1/bulk/campaigns/${encodeURIComponent(id)}`)),
      ]);
      const line = `${now.status}: ${stats.recipients} recipients, ${stats.sent} sent, ${stats.pending} pending, ${stats.bounced} bounced, ${stats.failed + stats.dropped} failed or dropped${stats.dispatch_complete ? '' : ' (dispatching)'}`;
      if (line !== last) console.log(line);
      last = line;
      if (now.status === 'cancelled' || (stats.dispatch_complete && stats.pending === 0)) return;
      await sleep(1000);
    }
  });
}

/** messages tail: the newest messages as they change, one line each, until interrupted. */
export async function messagesCommand(config: Config, args: string[], rounds = Number.POSITIVE_INFINITY): Promise<void> {
  if (args[0] !== 'tail') throw new CliError('messages takes tail');
  await withApi(config, async (api) => {
    const seen = new Map<string, string>();
    for (let round = 0; round < rounds; round++) {
      const page = await expectOk<{ data: Array<{ id: string; to: string; status: string; last_response: string | null; created_at: string }> }>(await api.request('GET', '/v1/messages?limit=100'));
      for (const m of page.data.reverse()) {
        if (seen.get(m.id) === m.status) continue;
        seen.set(m.id, m.status);
        console.log(`${m.created_at}\t${m.id}\t${m.status}\t${m.to}${m.last_response ? `\t${m.last_response}` : ''}`);
      }
      if (round + 1 < rounds) await sleep(1000);
    }
  });
}
