import { DomainError } from '../../errors.ts';
import type { SourceRow } from './import-sources.ts';
import type { Staging, StagedRow } from './import-repo.ts';
import { checkContactInput } from './rules.ts';

/** Most rows one import request may carry. */
export const MAX_IMPORT_ROWS = 1_000_000;
/** Most row errors listed in a response; `failed` still counts them all. */
export const MAX_REPORTED_ERRORS = 1_000;
const BATCH_ROWS = 500;

export interface ImportError {
  index: number;
  email: string | null;
  code: string;
  message: string;
}

/** How far the reading of an import has come: rows read so far and how many of them failed. */
export interface ImportProgress {
  read: number;
  failed: number;
}

export interface ImportResult {
  created: number;
  updated: number;
  failed: number;
  errors: ImportError[];
  /** Present (true) only when more rows failed than are listed. */
  errors_truncated?: true;
}

function emailOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const email = (value as { email?: unknown }).email;
  return typeof email === 'string' ? email.slice(0, 320) : null;
}

/**
 * Checks every row as it streams in, stages the good ones in batches and merges them in one
 * transaction at the end. One bad row never fails the others; a body that cannot be read at all
 * (or is over the row cap) fails the whole import before anything is merged, so nothing changes.
 */
export async function runImport(
  keyId: string,
  rows: AsyncIterable<SourceRow>,
  staging: Staging,
  maxRows = MAX_IMPORT_ROWS,
  onProgress?: (progress: ImportProgress) => Promise<void>,
): Promise<ImportResult> {
  const errors: ImportError[] = [];
  let failed = 0;
  let batch: StagedRow[] = [];
  let count = 0;
  const fail = (error: ImportError) => {
    failed++;
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(error);
  };
  try {
    for await (const row of rows) {
      if (++count > maxRows) {
        throw new DomainError('too_large', 'too_many_rows', `an import carries at most ${maxRows} rows; split the file`);
      }
      if (row.unreadable) {
        fail({ index: row.index, email: emailOf(row.value), code: row.code ?? 'invalid_json', message: row.unreadable });
        continue;
      }
      const checked = checkContactInput(row.value);
      if (checked.problem) {
        fail({ index: row.index, email: emailOf(row.value), code: checked.problem.code, message: checked.problem.message });
        continue;
      }
      const { input } = checked;
      batch.push({
        idx: row.index,
        email: input.email,
        name: input.name ?? null,
        metadata: input.metadataJson ?? null,
      });
      if (batch.length >= BATCH_ROWS) {
        await staging.add(batch);
        batch = [];
        await onProgress?.({ read: count, failed });
      }
    }
    await staging.add(batch);
    batch = [];
    await onProgress?.({ read: count, failed });
    const merged = await staging.merge(keyId, MAX_REPORTED_ERRORS);
    failed += merged.duplicates;
    for (const d of merged.duplicateRows) {
      if (errors.length >= MAX_REPORTED_ERRORS) break;
      errors.push({ index: d.idx, email: d.email, code: 'duplicate', message: 'the address appears earlier in the same import' });
    }
    errors.sort((a, b) => a.index - b.index);
    const result: ImportResult = { created: merged.created, updated: merged.updated, failed, errors };
    if (failed > errors.length) result.errors_truncated = true;
    return result;
  } finally {
    await staging.close();
  }
}
