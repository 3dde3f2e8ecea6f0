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
