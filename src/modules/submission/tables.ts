/** A fixed-window counter every submission listener shares (per-key rate, failed logins per address). */
export interface SubmissionCountersTable {
  bucket: string;
  window_start: Date;
  count: number;
}

export interface SubmissionTables {
  submission_counters: SubmissionCountersTable;
}
