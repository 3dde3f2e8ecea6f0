import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const MIGRATION_FILE = /^(\d{4}_[\w-]+)\.(?:ts|js)$/;
const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Each file in src/db/migrations exports up() (and optionally down()); names sort in apply order.
 * The compiled build (dist/db/migrations) has the same names ending in .js: a migration's name
 * is the file name without its extension, so a database migrated from either is the same.
 */
class DirectoryMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => MIGRATION_FILE.test(f)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      migrations[file.replace(MIGRATION_FILE, '$1')] = await import(pathToFileURL(path.join(MIGRATIONS_DIR, file)).href);
    }
    return migrations;
  }
}

export interface MigrationReport {
  applied: string[];
}

/** Applies pending migrations; Kysely's lock table keeps concurrent starts from racing. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationReport> {
  if (await isAtLatest(db)) return { applied: [] };
  const migrator = new Migrator({ db, provider: new DirectoryMigrationProvider(), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${(error as Error).message ?? error}`, { cause: error });
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

/**
 * True when the applied migrations are exactly the migration files: one query, without the Migrator's
 * lock, table checks and module imports, which were most of a warm start's database work. Anything else
 * (a pending migration, one applied that no file has, no migration table yet) is the Migrator's to handle
 * or report, as before.
 */
async function isAtLatest(db: Kysely<any>): Promise<boolean> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => MIGRATION_FILE.test(f)).map((f) => f.replace(MIGRATION_FILE, '$1'));
  let applied: string[];
  try {
    applied = (await sql<{ name: string }>`select name from kysely_migration`.execute(db)).rows.map((r) => r.name);
  } catch {
    return false;
  }
  return sameNames(files, applied);
}

/** Two lists of names hold the same names once each. */
export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === a.length && new Set(b).size === b.length && a.length === b.length && b.every((name) => set.has(name));
}
