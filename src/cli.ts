import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';

// The server, the database and every service load only when a command needs them, so `--help`
// and a typo answer at once instead of after importing the whole application.
const loadServer = () => import('./server.ts');
const loadMigrations = () => import('./db/migrate.ts');
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

Configuration comes from environment variables; see the README.`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
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
        const { runProcess, stopOnSignals } = await loadServer();
        const roles =
          command === 'start'
            ? { api: true, workers: true, submission: true, inbound: true }
            : { api: command === 'api', workers: command === 'worker', submission: command === 'submission', inbound: command === 'inbound' };
        return stopOnSignals(await runProcess(config, roles));
      }
      case 'migrate':
        return await migrate(config);
      case 'keys':
        return await keysCommand(config, rest);
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

async function keysCommand(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: 'string' }, admin: { type: 'boolean', default: false }, domain: { type: 'string', multiple: true } },
  });
  const [{ migrateToLatest }, { createContext, createLogger }] = await Promise.all([loadMigrations(), import('./composition.ts')]);
  const database = await openConfiguredDatabase(config);
  try {
    await migrateToLatest(database.db);
    const { keys } = createContext(config, database, createLogger('silent')).services;
    if (sub === 'create') {
      if (!values.name) throw new Error('keys create needs --name NAME');
      const { key, secret } = await keys.createKey({ name: values.name, admin: values.admin, domains: values.domain ?? [] });
      console.log(JSON.stringify({ id: key.id, key: secret, name: key.name, admin: key.admin }, null, 2));
    } else if (sub === 'list') {
      const { data } = await keys.list({ keyId: '', name: 'cli', admin: true }, { limit: 1000, offset: 0 });
      for (const k of data) console.log(`${k.id}\t${k.admin ? 'admin' : 'key'}\t${k.revoked_at ? 'revoked' : 'active'}\t${k.name}`);
    } else if (sub === 'revoke') {
      const id = positionals[0];
      if (!id) throw new Error('keys revoke needs an ID');
      if (!(await keys.revokeById(id))) throw new Error(`no active key ${id}`);
      console.log(`revoked ${id}`);
    } else {
      throw new Error('keys takes create, list or revoke');
    }
  } finally {
    await database.close();
  }
}
