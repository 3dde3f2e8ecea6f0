import { randomBytes } from 'node:crypto';
import { describe } from 'node:test';
import pg from 'pg';
import { openDatabase, type Database, type Engine } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

/** A storage engine a test suite runs on: every storage test runs on PGlite, and on PostgreSQL when TEST_DATABASE_URL is set. */
export interface TestEngine {
  name: Engine;
  /** A new, migrated, empty database of its own. */
  open(): Promise<Database>;
}

const pglite: TestEngine = {
  name: 'pglite',
  async open() {
    const database = await openDatabase({ databaseUrl: null, dataDir: null });
    await migrateToLatest(database.db);
    return database;
  },
};

function postgres(url: string): TestEngine {
  return {
    name: 'postgres',
    async open() {
      const name = `md_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`create database ${name}`);
      } finally {
        await admin.end();
      }
      const target = new URL(url);
      target.pathname = `/${name}`;
      const database = await openDatabase({ databaseUrl: target.toString(), dataDir: null, poolSize: 8 });
      await migrateToLatest(database.db);
      return {
        ...database,
        async close() {
          await database.close();
          const dropper = new pg.Client({ connectionString: url });
          await dropper.connect();
          try {
            await dropper.query(`drop database if exists ${name} with (force)`);
          } finally {
            await dropper.end();
          }
        },
      };
    },
  };
}

export function testEngines(): TestEngine[] {
  const url = process.env.TEST_DATABASE_URL;
  return url ? [pglite, postgres(url)] : [pglite];
}

/** Declares the suite once per engine: `suite [pglite]`, `suite [postgres]`. */
export function describeEachEngine(title: string, body: (engine: TestEngine) => void): void {
  for (const engine of testEngines()) {
    describe(`${title} [${engine.name}]`, () => body(engine));
  }
}
