import type { Generated, JSONColumnType } from 'kysely';

export interface AuditLogTable {
  id: Generated<number>;
  /** The key that made the change (for a batch's completion: the key it belongs to). */
  key_id: string;
  /** e.g. batch.created, batch.approved, batch.cancelled, batch.completed. */
  action: string;
  object_type: string;
  object_id: string;
  summary: JSONColumnType<Record<string, unknown>, string, string>;
  at: Date;
}

export interface AuditTables {
  audit_log: AuditLogTable;
}
