// Migrated, empty databases to copy, so that a test's database costs a copy and not an initdb plus every migration.
// PGlite's initdb alone takes seconds; the suite opens hundreds of databases. Both templates are named by a hash
// of the migrations (and of PGlite's version), so a changed migration makes a new template and never reuses a stale one.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function schemaHash(): string {
  const hash = createHash('sha256');
  const dir = path.join(ROOT, 'src/db/migrations');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) {
    hash.update(file).update(readFileSync(path.join(dir, file)));
  }
  hash.update(readFileSync(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json')));
  return hash.digest('hex').slice(0, 16);
}

let pgliteDump: Promise<Blob> | null = null;

/** A dump of a migrated PGlite, made once per machine and schema (a file in the temp directory). */
export function migratedPgliteDump(): Promise<Blob> {
  pgliteDump ??= (async () => {
    const file = path.join(tmpdir(), `mailerdash-test-pglite-${schemaHash()}.tar`);
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const database = await openDatabase({ databaseUrl: null, dataDir: null });
    try {
      await migrateToLatest(database.db);
      const dump = await database.dumpDataDir!();
      // Written aside and renamed, so a process running beside this one never reads half a file.
      const partial = `${file}.${randomBytes(4).toString('hex')}`;
      writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
      renameSync(partial, file);
      return dump;
    } finally {
      await database.close();
    }
  })();
  return pgliteDump;
}

async function onServer<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const pgTemplates = new Map<string, Promise<string>>();

/**
 * The name of a migrated PostgreSQL database on the server, to pass as `create database … template`.
 * Made once per server and schema; an advisory lock keeps test processes that start together from building it twice.
 */
export function migratedPostgresTemplate(serverUrl: string): Promise<string> {
  let template = pgTemplates.get(serverUrl);
  if (!template) {
    template = buildPostgresTemplate(serverUrl);
    pgTemplates.set(serverUrl, template);
  }
  return template;
}

async function buildPostgresTemplate(serverUrl: string): Promise<string> {
  const name = `md_tpl_${schemaHash()}`;
  return onServer(serverUrl, async (client) => {
    await client.query(`select pg_advisory_lock(hashtext('mailerdash test template'))`);
    try {
      const found = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (found.rowCount) return name;
      // Built under another name and renamed when complete, so no process copies a half-migrated template.
      const building = `${name}_b${randomBytes(3).toString('hex')}`;
      await client.query(`create database ${building}`);
      const url = new URL(serverUrl);
      url.pathname = `/${building}`;
      const database = await openDatabase({ databaseUrl: url.toString(), dataDir: null, poolSize: 1 });
      try {
        await migrateToLatest(database.db);
      } finally {
        await database.close();
      }
      await client.query(`alter database ${building} rename to ${name}`);
      return name;
    } finally {
      await client.query(`select pg_advisory_unlock(hashtext('mailerdash test template'))`);
    }
  });
}
