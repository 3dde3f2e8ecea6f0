import { createHash } from 'node:crypto';
import { sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type pg from 'pg';

const MARK = '/* prepared */ ';

/**
 * Put first in a statement of constant text that runs many times a second (the accept group
 * insert, dispatch chunks, outcomes): on PostgreSQL it then runs as a named prepared statement,
 * parsed once per connection instead of on every execution. The statement's text must not vary
 * with its input (arrays, not lists of placeholders), or each variant is one more statement kept
 * by every connection. After five executions PostgreSQL may keep one generic plan for the
 * connection's life, made from the statistics of that moment: pair it with indexAccessOnly
 * (planner.ts) where the statement must not scan a table that was small then. (Claims and
 * outcomes, planned while messages was nearly empty, kept scanning the whole table as it grew.)
 */
export const PREPARED = sql.raw(MARK);

const names = new Map<string, string>();
function nameOf(text: string): string {
  let name = names.get(text);
  if (!name) names.set(text, (name = `md_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`));
  return name;
}

/** The pool Kysely uses, running marked statements as named prepared statements. */
export function preparingPool(pool: pg.Pool): PostgresPool {
  // Kysely keeps its connection object per client: hand it the same wrapper every time.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = {
          query: ((text: string, values: unknown[]) =>
            // Anything else (Kysely's cursors included) goes to the client as it came.
            typeof text === 'string' && text.startsWith(MARK) ? client.query({ name: nameOf(text), text, values }) : client.query(text, values)) as unknown as PostgresPoolClient['query'],
          release: () => client.release(),
        };
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
