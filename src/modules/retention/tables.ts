import type { ColumnType } from 'kysely';

/** A single-claimer job's lease: held by one process until lease_until, which is also when the job runs next. */
export interface JobLeasesTable {
  name: string;
  holder: string;
  lease_until: Date;
}

/** Where a key's walk of its old messages resumes (migration 1850). */
export interface RetentionCursorsTable {
  key_id: string;
  messages_from: Date;
}

export interface RetentionTables {
  job_leases: JobLeasesTable;
  retention_cursors: RetentionCursorsTable;
}

// Content retention strips a content's bodies and marks when (migration 1201).
declare module '../messages/tables.ts' {
  interface MessageContentsTable {
    body_removed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  }
}
