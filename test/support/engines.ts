import { describe } from 'node:test';
import { openDatabase, type Database, type Engine } from '../../src/db/database.ts';
import { migratedPgliteDump, migratedPostgresTemplate } from './migrated-templates.ts';
import { createScratchDatabase } from './scratch-postgres.ts';

/** A storage engine a test suite runs on: every storage test runs on PGlite, and on PostgreSQL when TEST_DATABASE_URL is set. */
export interface TestEngine {
  name: Engine;
  /** A new, migrated, empty database of its own. */
  open(): Promise<Database>;
}

const pglite: TestEngine = {
  name: 'pglite',
  async open() {
    return openDatabase({ databaseUrl: null, dataDir: null, pgliteDump: await migratedPgliteDump() });
  },
};

function postgres(url: string): TestEngine {
  return {
    name: 'postgres',
    async open() {
      const scratch = await createScratchDatabase(url, 'md_test', await migratedPostgresTemplate(url));
      const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 8 });
      return {
        ...database,
        async close() {
          await database.close();
          await scratch.drop();
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
