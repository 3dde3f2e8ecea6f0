import type { CampaignsTables } from '../modules/campaigns/tables.ts';
import type { ContactsTables } from '../modules/contacts/tables.ts';
import type { DomainsTables } from '../modules/domains/tables.ts';
import type { KeysTables } from '../modules/keys/tables.ts';
import type { ListsTables } from '../modules/lists/tables.ts';
import type { IdempotencyTables } from '../modules/idempotency/tables.ts';
import type { MessagesTables } from '../modules/messages/tables.ts';
import type { ErasedSuppressionsTables, SuppressionLogTables } from '../modules/suppressions/tables.ts';
import type { TemplatesTables } from '../modules/templates/tables.ts';
import type { EventsTables } from '../modules/events/tables.ts';
import type { WebhooksTables } from '../modules/webhooks/tables.ts';
import type { SequencesTables } from '../modules/sequences/tables.ts';
import type { SubmissionTables } from '../modules/submission/tables.ts';
import type { InboundTables } from '../modules/inbound/tables.ts';
import type { AddressesTables } from '../modules/addresses/tables.ts';
import type { BatchesTables } from '../modules/batches/tables.ts';
import type { AuditTables } from '../modules/audit/tables.ts';
import type { ProvidersTables } from '../modules/providers/tables.ts';
import type { StatsTables } from '../modules/stats/tables.ts';
import type { RetentionTables } from '../modules/retention/tables.ts';
import type { ImportJobsTables } from '../modules/imports/tables.ts';

export interface SettingsTable {
  name: string;
  value: string;
}

/** The whole database as Kysely sees it: each feature declares its own tables. */
export interface DB extends KeysTables, DomainsTables, MessagesTables, IdempotencyTables, CampaignsTables, SuppressionLogTables, ContactsTables, ListsTables, TemplatesTables, EventsTables, WebhooksTables, SequencesTables, SubmissionTables, InboundTables, AddressesTables, BatchesTables, AuditTables, ProvidersTables, StatsTables, RetentionTables, ErasedSuppressionsTables, ImportJobsTables {
  settings: SettingsTable;
}
