import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { CliError } from './api-client.ts';

/** What `batches submit` takes besides a recipients file: the rest of a POST /v1/batches body. */
export interface BatchFlags {
  from?: string;
  'from-name'?: string;
  subject?: string;
  template?: string;
  html?: string;
  text?: string;
  channel?: string;
}

/** CSV columns that are fields of a recipient; every other column is one of its variables. */
const RECIPIENT_COLUMNS = new Set(['email', 'name', 'idempotency_key']);

/** Everything of the body but `recipients`, from the flags (checked here only as far as the server cannot say it better). */
export function batchHeader(flags: BatchFlags, readText: (file: string) => string = (file) => readFileSync(file, 'utf8')): Record<string, unknown> {
  if (!flags.from) throw new CliError('batches submit: a recipients file needs --from EMAIL (and --template ID, or --subject with --html/--text FILE)');
  if (!flags.template && !flags.html && !flags.text) throw new CliError('batches submit: a recipients file needs --template ID or --html/--text FILE');
  const content = [
    ...(flags.text ? [{ type: 'text/plain', value: readFlagFile(flags.text, readText) }] : []),
    ...(flags.html ? [{ type: 'text/html', value: readFlagFile(flags.html, readText) }] : []),
  ];
  return {
    from: { email: flags.from, ...(flags['from-name'] ? { name: flags['from-name'] } : {}) },
    ...(flags.subject ? { subject: flags.subject } : {}),
    ...(flags.template ? { template_id: flags.template } : {}),
    ...(content.length ? { content } : {}),
    ...(flags.channel ? { channel: flags.channel } : {}),
  };
}

function readFlagFile(file: string, readText: (file: string) => string): string {
  try {
    return readText(file);
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** A CSV row as a recipient: email, name and idempotency_key as such, the other non-empty cells as variables. */
export function csvRecipient(row: Record<string, string>): Record<string, unknown> {
  const variables = Object.fromEntries(Object.entries(row).filter(([column, value]) => !RECIPIENT_COLUMNS.has(column) && value !== ''));
  return {
    email: row.email ?? '',
    ...(row.name ? { name: row.name } : {}),
    ...(row.idempotency_key ? { idempotency_key: row.idempotency_key } : {}),
    ...(Object.keys(variables).length ? { variables } : {}),
  };
}

async function* recipientsOf(file: string, input: Readable, format: 'csv' | 'ndjson'): AsyncGenerator<Record<string, unknown>> {
  if (format === 'csv') {
    for await (const row of input.pipe(parse({ columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), skip_empty_lines: true, bom: true, trim: true }))) {
      yield csvRecipient(row as Record<string, string>);
    }
    return;
  }
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (!text.trim()) continue;
    try {
      yield JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CliError(`${file}:${line}: not a JSON object`);
    }
  }
}

/**
 * The POST /v1/batches body for a file of recipients, written as it is read (never the whole file in
 * memory); `onBytes` hears how much of the file has been read, for the progress of the upload.
 */
export function recipientsBody(file: string, format: 'csv' | 'ndjson', header: Record<string, unknown>, onBytes: (read: number) => void = () => {}): Readable {
  const input = createReadStream(file);
  let read = 0;
  input.on('data', (chunk) => onBytes((read += chunk.length)));
  async function* pieces(): AsyncGenerator<string> {
    yield `${JSON.stringify(header).slice(0, -1)},"recipients":[`;
    let count = 0;
    let chunk = '';
    for await (const recipient of recipientsOf(file, input, format)) {
      chunk += `${count ? ',' : ''}${JSON.stringify(recipient)}`;
      count++;
      if (chunk.length >= 65_536) {
        yield chunk;
        chunk = '';
      }
    }
    if (!count) throw new CliError(`${file}: no recipients`);
    yield `${chunk}]}`;
  }
  return Readable.from(pieces());
}
