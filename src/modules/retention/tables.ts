import type { ColumnType } from 'kysely';

/** A single-claimer job's lease: held by one process until lease_until, which is also when the job runs next. */
export interface JobLeasesTable {
  name: string;
  holder: string;
  lease_until: Date;
}

export interface RetentionTables {
  job_leases: JobLeasesTable;
}

// Content retention strips a content's bodies and marks when (migration 1201).
declare module '../messages/tables.ts' {
  interface MessageContentsTable {
    body_removed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  }
}
