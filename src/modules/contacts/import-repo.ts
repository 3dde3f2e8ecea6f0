import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';
import pgCopyStreams from 'pg-copy-streams';
import type { DB } from '../../db/schema.ts';

/**
 * The SQL of a contacts import. Rows stream into a session-local staging table (COPY on
 * PostgreSQL, multi-row inserts on PGlite, which has no COPY FROM STDIN through our driver), then
 * one transaction merges them set-based: duplicates are found by a window, existing contacts are
 * updated (name and metadata when given, never the status) and new ones inserted in file order.
 */

export interface StagedRow {
  idx: number;
  email: string;
  name: string | null;
  /** The metadata object as JSON text; null when the row gave none (the stored one is kept). */
  metadata: string | null;
}

export interface MergeResult {
  created: number;
  updated: number;
  duplicates: number;
  /** The first duplicates by row index: rows whose address appeared earlier in the same import. */
  duplicateRows: { idx: number; email: string }[];
}

export interface Staging {
  add(rows: StagedRow[]): Promise<void>;
  merge(keyId: string, maxDuplicateRows: number): Promise<MergeResult>;
  close(): Promise<void>;
}

type Run = (text: string, params?: unknown[]) => Promise<{ rows: any[]; count: number }>;

const createSql = (t: string) =>
  `create temp table ${t} (idx bigint not null, email text not null, email_lower text generated always as (lower(email)) stored, name text, metadata jsonb)`;

async function mergeStaged(run: Run, transaction: <T>(fn: () => Promise<T>) => Promise<T>, t: string, keyId: string, maxDuplicateRows: number): Promise<MergeResult> {
  let result: MergeResult;
  try {
    result = await mergeOnce(run, transaction, t, keyId, maxDuplicateRows);
  } catch (error) {
    // A contact created by another request between our check and our insert: the next pass sees it.
    if ((error as { code?: string }).code !== '23505') throw error;
    result = await mergeOnce(run, transaction, t, keyId, maxDuplicateRows);
  }
  // Plans over contacts (exports, lists) go wrong with statistics from before a large import.
  if (result.created >= ANALYZE_AFTER_ROWS) await run('analyze contacts');
  return result;
}

const ANALYZE_AFTER_ROWS = 10_000;

async function mergeOnce(run: Run, transaction: <T>(fn: () => Promise<T>) => Promise<T>, t: string, keyId: string, maxDuplicateRows: number): Promise<MergeResult> {
  const firsts = `(select distinct on (email_lower) idx, email, email_lower, name, metadata from ${t} order by email_lower, idx)`;
  return transaction(async () => {
    // Sorts and hashes over a million rows spill to disk with the default memory settings.
    await run(`set local work_mem = '128MB'`);
    await run(`set local maintenance_work_mem = '256MB'`);
    await run(`create index on ${t} (email_lower, idx)`);
    await run(`analyze ${t}`);
    // One pass tells how many distinct addresses came and how many of them the key already has.
    const counts = (
      await run(
        `select (select count(*) from ${t})::int as total, count(*)::int as uniq, count(c.id)::int as existing
         from ${firsts} s left join contacts c on c.key_id = $1 and lower(c.email) = s.email_lower`,
        [keyId],
      )
    ).rows[0] as { total: number; uniq: number; existing: number };
    const duplicates = counts.total - counts.uniq;
    const duplicateRows = duplicates
      ? ((
          await run(
            `select idx::int as idx, email from (select idx, email, row_number() over (partition by email_lower order by idx) as rn from ${t}) x where rn > 1 order by idx limit $1`,
            [maxDuplicateRows],
          )
        ).rows as { idx: number; email: string }[])
      : [];
    if (counts.existing) {
      // A row that would not change is not rewritten (re-importing the same file is cheap); it still counts as updated.
      await run(
        `update contacts c set name = coalesce(s.name, c.name), metadata = coalesce(s.metadata, c.metadata), updated_at = now()
         from ${firsts} s where c.key_id = $1 and lower(c.email) = s.email_lower
         and (s.name is not null and s.name is distinct from c.name or s.metadata is not null and s.metadata is distinct from c.metadata)`,
        [keyId],
      );
    }
    let created = 0;
    if (counts.existing < counts.uniq) {
      // In address order: the (key_id, lower(email)) index then fills almost sequentially instead of at
      // random (about a fifth of the insert time on a million rows); new contacts' ids follow address order.
      const onlyNew = counts.existing ? `where not exists (select 1 from contacts c where c.key_id = $1 and lower(c.email) = s.email_lower)` : '';
      created = (
        await run(
          `insert into contacts (key_id, email, name, metadata)
           select $1, s.email, s.name, coalesce(s.metadata, '{}'::jsonb) from ${firsts} s ${onlyNew}
           order by s.email_lower`,
          [keyId],
        )
      ).count;
    }
    return { created, updated: counts.existing, duplicates, duplicateRows };
  });
}

function stagingName(): string {
  return `contact_import_${randomBytes(6).toString('hex')}`;
}

/** PGlite: one in-process session; batches are separate statements so other requests interleave. */
export async function openPGliteStaging(db: Kysely<DB>): Promise<Staging> {
  const t = stagingName();
  const run: Run = async (text, params = []) => {
    const result = await db.executeQuery(CompiledQuery.raw(text, params));
    return { rows: result.rows as any[], count: Number(result.numAffectedRows ?? result.rows.length) };
  };
  await run(createSql(t));
  return {
    async add(rows) {
      if (!rows.length) return;
      const json = `[${rows
        .map((r) => `{"idx":${r.idx},"email":${JSON.stringify(r.email)},"name":${r.name === null ? 'null' : JSON.stringify(r.name)},"metadata":${r.metadata ?? 'null'}}`)
        .join(',')}]`;
      await run(`insert into ${t} (idx, email, name, metadata) select idx, email, name, nullif(metadata, 'null'::jsonb) from jsonb_to_recordset($1::jsonb) as x(idx bigint, email text, name text, metadata jsonb)`, [json]);
    },
    async merge(keyId, maxDuplicateRows) {
      return db.connection().execute(async (connection) => {
        const onConnection: Run = async (text, params = []) => {
          const result = await connection.executeQuery(CompiledQuery.raw(text, params));
          return { rows: result.rows as any[], count: Number(result.numAffectedRows ?? result.rows.length) };
        };
        const transaction = async <T>(fn: () => Promise<T>) => {
          await onConnection('begin');
          try {
            const value = await fn();
            await onConnection('commit');
            return value;
          } catch (error) {
            await onConnection('rollback');
            throw error;
          }
        };
        return mergeStaged(onConnection, transaction, t, keyId, maxDuplicateRows);
      });
    },
    async close() {
      await run(`drop table if exists ${t}`);
    },
  };
}

const COPY_SPECIAL = /[\\\t\n\r]/;

function copyText(value: string): string {
  if (!COPY_SPECIAL.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * PostgreSQL: a session of its own (the pool's settings, outside its count), COPY FROM STDIN into a
 * temp table as the rows arrive. Its own session so temp_buffers can still be raised: a million staged
 * rows would otherwise go through 8 MB of local buffers to disk.
 */
export async function openPostgresStaging(pool: pg.Pool): Promise<Staging> {
  const t = stagingName();
  const client = new pg.Client(pool.options);
  await client.connect();
  let copy: ReturnType<typeof pgCopyStreams.from> | null = null;
  let copyError: Error | null = null;
  const run: Run = async (text, params = []) => {
    const result = await client.query(text, params);
    return { rows: result.rows, count: result.rowCount ?? 0 };
  };
  try {
    await run(`set temp_buffers = '256MB'`);
    await run(createSql(t));
    copy = client.query(pgCopyStreams.from(`copy ${t} (idx, email, name, metadata) from stdin`));
    copy.on('error', (error) => (copyError = error));
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  const stream = copy;
  return {
    async add(rows) {
      if (copyError) throw copyError;
      let text = '';
      for (const r of rows) {
        text += `${r.idx}\t${copyText(r.email)}\t${r.name === null ? '\\N' : copyText(r.name)}\t${r.metadata === null ? '\\N' : copyText(r.metadata)}\n`;
      }
      if (!stream.write(text)) await Promise.race([once(stream, 'drain'), once(stream, 'error')]);
      if (copyError) throw copyError;
    },
    async merge(keyId, maxDuplicateRows) {
      stream.end();
      await finished(stream);
      const transaction = async <T>(fn: () => Promise<T>) => {
        await run('begin');
        try {
          const value = await fn();
          await run('commit');
          return value;
        } catch (error) {
          await run('rollback');
          throw error;
        }
      };
      return mergeStaged(run, transaction, t, keyId, maxDuplicateRows);
    },
    async close() {
      // Ending the session drops its temp table, also when an import was abandoned mid-COPY.
      if (!stream.writableFinished) stream.destroy();
      await client.end().catch(() => {});
    },
  };
}

/** The staging of one import on this engine: COPY on PostgreSQL (when its pool is given), inserts on PGlite. */
export function openStaging(db: Kysely<DB>, engine: string, pool: pg.Pool | undefined): Promise<Staging> {
  return engine === 'postgres' && pool ? openPostgresStaging(pool) : openPGliteStaging(db);
}
