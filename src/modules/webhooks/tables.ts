import type { ColumnType, Generated } from 'kysely';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhooksTable {
  id: string;
  key_id: string;
  url: string;
  description: string | null;
  /** Event types it receives; `*` means all. */
  events: ColumnType<string[], string[] | undefined, string[]>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  disabled_reason: string | null;
  disabled_at: Date | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_until: Date | null;
  /** When the current run of failed attempts began (cleared by a success). */
  failing_since: Date | null;
  lease_owner: string | null;
  lease_until: Date | null;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface WebhookDeliveriesTable {
  /** Shown as `whd_<id>`. */
  id: Generated<string>;
  key_id: string;
  endpoint_id: string;
  event_seq: string;
  event_type: string;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  /** When a pending delivery is due; null until its first attempt (due at once). */
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  /** The first 1 KB of the last response body. */
  last_body: string | null;
  delivered_at: Date | null;
  created_at: ColumnType<Date, Date | string, Date | string>;
}

export interface WebhooksTables {
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
