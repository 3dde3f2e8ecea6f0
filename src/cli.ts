import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { ConfigError, loadConfig, type Config } from './config.ts';

// The server, the database and every service load only when a command needs them, so `--help`
// and a typo answer at once instead of after importing the whole application.
const loadServer = () => import('./server.ts');
const loadMigrations = () => import('./db/migrate.ts');
const loadCommands = () => import('./cli/commands.ts');
/** The configured database without the HTTP server's modules (the CLI's own commands need no Fastify). */
async function openConfiguredDatabase(config: Config) {
  const { openDatabase } = await import('./db/database.ts');
  return openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
}

const USAGE = `Usage: mailerdash <command>

  start                     API, all workers, the SMTP submission relay and the inbound SMTP listener in one process
  api                       the HTTP API only
  worker                    the background workers only
  submission                the SMTP submission relay only
  inbound                   the inbound SMTP listener (bounces, complaints, mailto unsubscribes) and its job
  migrate                   apply database migrations and exit
  keys create --name NAME [--admin] [--domain example.com ...]
  keys list
  keys revoke ID
  contacts import FILE [--format csv|ndjson|json]   progress on standard error, the result on standard output
  contacts export [--format csv|ndjson] [--status S]
  campaigns send ID [--watch] [--allow-local-links]
  batches submit FILE [--watch] [--idempotency-key K]   FILE: a POST /v1/batches body (.json), or
                            recipients (.csv/.ndjson) with --from EMAIL [--from-name N] [--subject S]
                            [--template ID | --html FILE --text FILE] [--channel bulk|trans]
  messages tail

keys, contacts, campaigns, batches and messages work with or without a running server: beside a server that holds
the embedded database they use its HTTP API (found in the data directory), or MAILERDASH_URL with
MAILERDASH_API_KEY when set.

Configuration comes from environment variables; see the README.`;

/**
 * Commands that open the embedded database and end within a second. V8 compiles PGlite's WebAssembly with
 * its baseline compiler, then again optimized for the functions that turn hot; that second compile takes
 * about as much CPU as the whole command and only pays back in a long-running process.
 */
const SHORT_COMMANDS = new Set(['migrate', 'keys']);

/**
 * Long-running commands on PGlite: a wasm function is recompiled optimized only after 100 times V8's default
 * amount of execution. At start the default budget sent the functions of PostgreSQL's own start to the
 * optimizing compiler, which took the second core from the start; the functions a running server keeps hot
 * still reach it within seconds (send throughput on PGlite unchanged within noise).
 */
const SERVER_WASM_TIERING_BUDGET = '--wasm-tiering-budget=180000000';

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command && SHORT_COMMANDS.has(command)) setFlagsFromString('--liftoff-only');
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`mailerdash: invalid configuration: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  try {
    switch (command) {
      case 'start':
      case 'api':
      case 'worker':
      case 'submission':
      case 'inbound': {
        if (!config.databaseUrl) setFlagsFromString(SERVER_WASM_TIERING_BUDGET);
        // The database opens (PGlite: its WebAssembly compiles) while the server's code loads.
        const opening = openConfiguredDatabase(config);
        opening.catch(() => {}); // its error is runProcess's to report, once that awaits it
        const { runProcess, stopOnSignals } = await loadServer();
        const roles =
          command === 'start'
            ? { api: true, workers: true, submission: true, inbound: true }
            : { api: command === 'api', workers: command === 'worker', submission: command === 'submission', inbound: command === 'inbound' };
        return stopOnSignals(await runProcess(config, roles, undefined, opening));
      }
      case 'migrate':
        return await migrate(config);
      case 'keys':
        return await keysCommand(config, rest);
      case 'contacts':
        return await (await loadCommands()).contactsCommand(config, rest);
      case 'campaigns':
        return await (await loadCommands()).campaignsCommand(config, rest);
      case 'batches':
        return await (await import('./cli/batches-command.ts')).batchesCommand(config, rest);
      case 'messages':
        return await (await loadCommands()).messagesCommand(config, rest);
      default:
        console.error(USAGE);
        process.exit(command === undefined || command === 'help' || command === '--help' ? 0 : 2);
    }
  } catch (error) {
    console.error(`mailerdash: ${(error as Error).message}`);
    process.exit(1);
  }
}

async function migrate(config: Config): Promise<void> {
  const { migrateToLatest } = await loadMigrations();
  const database = await openConfiguredDatabase(config);
  try {
    const { applied } = await migrateToLatest(database.db);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await database.close();
  }
}

interface KeyRow {
  id: string;
  name: string;
  admin: boolean;
  revoked_at: string | null;
}

/** keys list: a table with a header row. */
function printKeys(keys: KeyRow[]): void {
  const rows = [['ID', 'ROLE', 'STATE', 'NAME'], ...keys.map((k) => [k.id, k.admin ? 'admin' : 'key', k.revoked_at ? 'revoked' : 'active', k.name])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

async function keysCommand(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: 'string' }, admin: { type: 'boolean', default: false }, domain: { type: 'string', multiple: true } },
  });
  if (sub === 'create' && !values.name) throw new Error('keys create needs --name NAME');
  if (sub === 'revoke' && !positionals[0]) throw new Error('keys revoke needs an ID');
  if (sub !== 'create' && sub !== 'list' && sub !== 'revoke') throw new Error('keys takes create, list or revoke');
  const [{ migrateToLatest }, { createContext, createLogger }] = await Promise.all([loadMigrations(), import('./composition.ts')]);
  let database: Awaited<ReturnType<typeof openConfiguredDatabase>>;
  try {
    if (process.env.MAILERDASH_URL) throw new Error('is in use by process (MAILERDASH_URL)');
    database = await openConfiguredDatabase(config);
  } catch (error) {
    if (!/is in use by process/.test((error as Error).message)) throw error;
    return keysThroughApi(config, sub, values, positionals[0]);
  }
  try {
    await migrateToLatest(database.db);
    const { keys } = createContext(config, database, createLogger('silent')).services;
    if (sub === 'create') {
      const { key, secret } = await keys.createKey({ name: values.name!, admin: values.admin, domains: values.domain ?? [] });
      console.log(JSON.stringify({ id: key.id, key: secret, name: key.name, admin: key.admin }, null, 2));
    } else if (sub === 'list') {
      printKeys((await keys.list({ keyId: '', name: 'cli', admin: true }, { limit: 1000, offset: 0 })).data);
    } else {
      const id = positionals[0]!;
      if (!(await keys.revokeById(id))) throw new Error(`no active key ${id}`);
      console.log(`revoked ${id}`);
    }
  } finally {
    await database.close();
  }
}

/** The same commands through a running server's API (the embedded database is its). */
async function keysThroughApi(config: Config, sub: string, values: { name?: string; admin?: boolean; domain?: string[] }, id: string | undefined): Promise<void> {
  const { connectApi, expectOk } = await import('./cli/api-client.ts');
  const api = await connectApi(config);
  try {
    if (sub === 'create') {
      const key = await expectOk<{ id: string; key: string; name: string; admin: boolean }>(
        await api.request('POST', '/v1/keys', { body: JSON.stringify({ name: values.name, admin: values.admin, domains: values.domain ?? [] }), headers: { 'content-type': 'application/json' } }),
      );
      console.log(JSON.stringify({ id: key.id, key: key.key, name: key.name, admin: key.admin }, null, 2));
    } else if (sub === 'list') {
      printKeys((await expectOk<{ data: KeyRow[] }>(await api.request('GET', '/v1/keys?limit=1000'))).data);
    } else {
      const response = await api.request('DELETE', `/v1/keys/${encodeURIComponent(id!)}`);
      if (response.status === 404) throw new Error(`no active key ${id}`);
      await expectOk(response);
      console.log(`revoked ${id}`);
    }
  } finally {
    await api.close();
  }
}
