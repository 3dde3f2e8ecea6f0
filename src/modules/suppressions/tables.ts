import type { Generated } from 'kysely';

/** Every addition to and removal from a suppression list, so taking an address off is never silent. */
export interface SuppressionLogTable {
  id: Generated<number>;
  key_id: string;
  email: string;
  action: 'added' | 'removed';
  reason: string | null;
  source_type: string | null;
  source_id: string | null;
  at: Generated<Date>;
}

export interface SuppressionLogTables {
  suppression_log: SuppressionLogTable;
}

/** The suppression entry of an erased address: only its keyed hash (migration 1700). */
export interface ErasedSuppressionsTable {
  key_id: string;
  email_hash: string;
  reason: 'bounce' | 'complaint' | 'unsubscribe' | 'manual';
  erased_at: Date;
}

export interface ErasedSuppressionsTables {
  erased_suppressions: ErasedSuppressionsTable;
}
