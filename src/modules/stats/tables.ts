import type { ColumnType } from 'kysely';

export type StatScope = 'key' | 'campaign' | 'batch' | 'sequence';

type Counter = ColumnType<string | number, number | undefined, number>;

/** One hour of event counts for a key and channel: the key's own (scope_id '') or one campaign's, batch's or sequence's. */
export interface StatCountsTable {
  scope: StatScope;
  key_id: string;
  scope_id: string;
  hour: Date;
  channel: 'trans' | 'bulk';
  sent: Counter;
  delivered: Counter;
  deferred: Counter;
  bounced: Counter;
  /** Of the bounced, those that had been counted sent first (a later DSN or provider event). */
  bounced_after_sent: Counter;
  complained: Counter;
  opened: Counter;
  clicked: Counter;
  unsubscribed: Counter;
  failed: Counter;
  dropped: Counter;
}

export interface StatsTables {
  stat_counts: StatCountsTable;
}
