import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { Channel } from '../messages/tables.ts';

export type BatchStatus = 'receiving' | 'accepted' | 'canary' | 'awaiting_approval' | 'sending' | 'completed' | 'cancelled';
export type BatchOutcome = 'success' | 'partial' | 'failed';

type Json<T extends object | null> = JSONColumnType<T, string | null | undefined, string | null>;

export interface ProviderPolicy {
  providers: string[];
  strategy: 'failover' | 'weighted';
  weights?: number[];
  hourly_cap?: number;
}

export interface CanaryPlan {
  percent: number;
  hold: boolean;
  max_bounce_rate?: number;
  max_complaint_rate?: number;
  /** The seed that chose the slice (recorded so the choice can be reproduced). */
  seed: string;
  /** How many recipients the slice holds. */
  size: number;
}

/** Why a batch waits in awaiting_approval. */
export interface BatchHold {
  reason: 'canary_hold' | 'bounce_rate' | 'complaint_rate';
  bounce_rate: number;
  complaint_rate: number;
  at: string;
}

export interface BatchesTable {
  id: string;
  key_id: string;
  status: BatchStatus;
  outcome: BatchOutcome | null;
  channel: Channel;
  content_id: string | null;
  idempotency_key: string | null;
  policy: Json<ProviderPolicy | null>;
  canary: Json<CanaryPlan | null>;
  hold: Json<BatchHold | null>;
  submitted: ColumnType<number, number | undefined, number>;
  accepted: ColumnType<number, number | undefined, number>;
  rejected: ColumnType<number, number | undefined, number>;
  send_at: Date | null;
  progress_seq: ColumnType<number, number | undefined, number>;
  progress_at: Date | null;
  progress_counts: Json<Record<string, number> | null>;
  webhook_progress_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, Date>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  completed_at: Date | null;
  /** Kept with each message the slice dispatcher makes. */
  custom_args: Json<Record<string, string> | null>;
  /** Failures retry-failed took back (the aggregates keep counting them). */
  requeued: ColumnType<number, number | undefined, number>;
}

export interface BatchRecipientsTable {
  batch_id: string;
  seq: number;
  email: string;
  name: string | null;
  variables: Json<Record<string, unknown> | null>;
  idempotency_key: string | null;
  rejection: string | null;
  message_id: string | null;
  canary: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface BatchRecipientKeysTable {
  key_id: string;
  idempotency_key: string;
  batch_id: string;
  message_id: string | null;
  created_at: Date;
}

export interface BatchDecisionsTable {
  id: Generated<number>;
  batch_id: string;
  provider: string | null;
  reason: string;
  detail: string | null;
  count: number;
  first_at: Date;
  last_at: Date;
}

export interface BatchProgressTable {
  batch_id: string;
  seq: number;
  type: string;
  at: Date;
  data: JSONColumnType<Record<string, unknown>, string, string>;
}

export interface ProviderHourlyUsageTable {
  key_id: string;
  provider: string;
  hour: Date;
  used: number;
}

/** A batch whose accepted recipients are not all messages yet (deleted once they are). */
export interface BatchReleasesTable {
  batch_id: string;
  key_id: string;
  /** The last recipient position made into a message by the slice dispatcher (-1: none yet). */
  release_after: ColumnType<number, number | undefined, number>;
  updated_at: Date;
}

export interface BatchesTables {
  batches: BatchesTable;
  batch_releases: BatchReleasesTable;
  batch_recipients: BatchRecipientsTable;
  batch_recipient_keys: BatchRecipientKeysTable;
  batch_decisions: BatchDecisionsTable;
  batch_progress: BatchProgressTable;
  provider_hourly_usage: ProviderHourlyUsageTable;
}
