import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.ts';
import { preparingPool } from './prepared.ts';
import type { DB } from './schema.ts';

export type Engine = 'pglite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  engine: Engine;
  /** PostgreSQL only: the driver's pool, for work Kysely does not cover (COPY streams). */
  pool?: pg.Pool;
  /** True when the database is reachable (for /readyz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** PGlite only: the data directory as a tarball, which `pgliteDump` loads again (fast test set-up). */
  dumpDataDir?(): Promise<Blob>;
  /** PGlite only: the size of its WebAssembly memory, which grows to its high-water mark and never shrinks. */
  wasmMemoryBytes?(): number;
}

const INT8_OID = 20;
// Counts and ids fit in a double; both engines then hand back plain numbers.
const parseInt8 = (value: string) => Number(value);
const BYTEA_OID = 17;
// PGlite's own bytea text form is built and read a byte at a time in JS (an array of a 2-character string
// per byte): a 933 KB attachment part cost ~25 MB of heap and 0.3-0.6 s each way on the bench machine.
// A bytea parameter goes as the bytes themselves (PGlite binds a typed array in binary format), never as
// hex text twice its size; a result, which PGlite asks for as text, is read by Node's hex codec. (PGlite's
// array serializer calls this one per element and cannot take bytes: a bytea[] parameter throws, loudly.)
const pgliteBytea = {
  serialize: (value: Uint8Array) => value as unknown as string,
  parse: (text: string) => Buffer.from(text.slice(2), 'hex'),
};

export interface OpenOptions {
  databaseUrl: string | null;
  /** PGlite data directory; null keeps the embedded database in memory (tests). */
  dataDir: string | null;
  poolSize?: number;
  /** Loads a PGlite data directory dumped by dumpDataDir (fast test set-up). */
  pgliteDump?: Blob;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.poolSize ?? 10);
  return openPGlite(options.dataDir, options.pgliteDump);
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: { getTypeParser: (oid: number, format?: any) => (oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) } as any,
  });
  // An idle client's network error must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
  return {
    db,
    engine: 'postgres',
    pool,
    ping: () => ping(db),
    close: () => db.destroy(),
  };
}

async function openPGlite(dataDir: string | null, dump?: Blob): Promise<Database> {
  let releaseLock = () => {};
  if (dataDir) {
    fs.mkdirSync(dataDir, { recursive: true });
    releaseLock = lockDataDir(path.join(dataDir, 'mailerdash.lock'));
  }
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir: path.join(dataDir, 'pglite') } : {}),
    ...(dump ? { loadDataDir: dump } : {}),
    parsers: { [INT8_OID]: parseInt8, [BYTEA_OID]: pgliteBytea.parse },
    serializers: { [BYTEA_OID]: pgliteBytea.serialize },
  });
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    engine: 'pglite',
    ping: () => ping(db),
    dumpDataDir: () => pglite.dumpDataDir('none'),
    wasmMemoryBytes: () => (pglite as unknown as { mod: { wasmMemory: WebAssembly.Memory } }).mod.wasmMemory.buffer.byteLength,
    close: async () => {
      await db.destroy();
      await pglite.close();
      releaseLock();
    },
  };
}

async function ping(db: Kysely<DB>): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

/**
 * PGlite is an in-process database: two processes on one data directory would corrupt it.
 * A lock file holding the owner's pid refuses the second one; a dead owner's lock is taken over.
 */
function lockDataDir(lockPath: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(fs.readFileSync(lockPath, 'utf8'));
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `the data directory ${path.dirname(lockPath)} is in use by process ${owner}; ` +
            'the embedded database serves one process, set DATABASE_URL to run several',
        );
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
