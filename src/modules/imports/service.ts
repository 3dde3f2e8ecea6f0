import { Transform, pipeline, type Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { DomainError, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import { MAX_IMPORT_ROWS, type ImportResult } from '../contacts/import.ts';
import { IMPORT_TYPES, limitBytes, rowsFor } from '../contacts/import-sources.ts';
import type { Principal } from '../keys/service.ts';
import * as repo from './repo.ts';
import type { ImportJobStatus } from './tables.ts';

/** Size of one stored piece of an uploaded body. */
export const CHUNK_BYTES = 1024 * 1024;

export interface ImportJobView {
  id: string;
  key_id: string;
  status: Exclude<ImportJobStatus, 'receiving'>;
  content_type: string;
  bytes: number;
  rows_total: number;
  rows_read: number;
  created: number;
  updated: number;
  failed: number;
  attempts: number;
  result: ImportResult | null;
  error: { code: string; message: string } | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

const json = <T>(value: unknown): T | null => (typeof value === 'string' ? JSON.parse(value) : (value ?? null)) as T | null;
const iso = (at: Date | null) => (at ? new Date(at).toISOString() : null);

export function importJobView(row: repo.ImportJobRow): ImportJobView {
  return {
    id: row.id,
    key_id: row.key_id,
    status: row.status as ImportJobView['status'],
    content_type: row.content_type,
    bytes: Number(row.bytes),
    rows_total: row.rows_total,
    rows_read: row.rows_read,
    created: row.created,
    updated: row.updated,
    failed: row.failed,
    attempts: row.attempts,
    result: json<ImportResult>(row.result),
    error: json<{ code: string; message: string }>(row.error),
    created_at: iso(row.created_at)!,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    updated_at: iso(row.updated_at)!,
  };
}

/**
 * Passes the body on unchanged while storing it in pieces of chunkBytes; each piece is written before
 * more is read (backpressure), so memory stays at about one piece whatever the body's size.
 */
function storingChunks(chunkBytes: number, write: (seq: number, data: Buffer) => Promise<void>): Transform & { bytes: () => number } {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let seq = 0;
  let total = 0;
  const flushPending = async () => {
    if (!pendingBytes) return;
    const data = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await write(seq++, data);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      total += chunk.length;
      if (pendingBytes < chunkBytes) return callback(null, chunk);
      flushPending().then(() => callback(null, chunk), callback);
    },
    flush(callback) {
      flushPending().then(() => callback(), callback);
    },
  });
  return Object.assign(stream, { bytes: () => total });
}

export interface ImportJobsDeps {
  db: Kysely<DB>;
  /** Wakes this process's workers: a job became due. */
  onQueued?: () => void;
  now?: () => Date;
  /** Size of one stored piece of a body; CHUNK_BYTES unless a test wants many. */
  chunkBytes?: number;
}

export function createImportJobsService(deps: ImportJobsDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  return {
    /**
     * Stores the body in the database while reading it once as the synchronous import would, so a
     * body that cannot be read at all (or is over a cap) is refused now, with nothing kept; row by
     * row checks and the merge are the worker's. Answers the queued job.
     */
    async submit(principal: Principal, contentType: string, body: Readable): Promise<ImportJobView> {
      if (!IMPORT_TYPES.includes(contentType)) throw new DomainError('unsupported_media_type', 'unsupported_media_type', `unsupported content type ${contentType}`);
      const id = newId('imp');
      const keyId = principal.keyId;
      await repo.insertReceiving(db, { id, keyId, contentType, now: now() });
      try {
        const store = storingChunks(deps.chunkBytes ?? CHUNK_BYTES, (seq, data) => repo.appendChunk(db, { importId: id, keyId, seq, data }));
        const rows = rowsFor(contentType, pipeline(limitBytes(body), store, () => {}))!;
        let count = 0;
        for await (const _row of rows) {
          if (++count > MAX_IMPORT_ROWS) throw new DomainError('too_large', 'too_many_rows', `an import carries at most ${MAX_IMPORT_ROWS} rows; split the file`);
        }
        const row = await repo.markQueued(db, id, { bytes: store.bytes(), rowsTotal: count, now: now() });
        deps.onQueued?.();
        return importJobView(row);
      } catch (error) {
        await repo.deleteImport(db, id);
        throw error;
      }
    },

    async get(principal: Principal, id: string): Promise<ImportJobView> {
      const row = await repo.findImport(db, principal.admin ? null : principal.keyId, id);
      if (!row) throw notFound('import');
      return importJobView(row);
    },
  };
}

export type ImportJobsService = ReturnType<typeof createImportJobsService>;
