import type { ColumnType, Generated } from 'kysely';

export type ImportJobStatus = 'receiving' | 'queued' | 'running' | 'completed' | 'failed';

type Json<T> = ColumnType<T | null, string | null | undefined, string | null>;

export interface ContactImportsTable {
  id: string;
  key_id: string;
  status: ImportJobStatus;
  content_type: string;
  bytes: ColumnType<string | number, number | undefined, number>;
  rows_total: Generated<number>;
  rows_read: Generated<number>;
  created: Generated<number>;
  updated: Generated<number>;
  failed: Generated<number>;
  attempts: Generated<number>;
  result: Json<unknown>;
  error: Json<{ code: string; message: string }>;
  due_at: Date | null;
  lease_owner: string | null;
  lease_until: Date | null;
  created_at: ColumnType<Date, Date | undefined, Date>;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface ContactImportChunksTable {
  import_id: string;
  key_id: string;
  seq: number;
  data: Uint8Array;
}

export interface ImportJobsTables {
  contact_imports: ContactImportsTable;
  contact_import_chunks: ContactImportChunksTable;
}
