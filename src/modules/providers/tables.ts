import type { ColumnType, Generated } from 'kysely';

export interface ProvidersTable {
  id: string;
  key_id: string;
  name: string;
  type: 'ses' | 'sendgrid' | 'mailgun' | 'postmark';
  settings: ColumnType<Record<string, unknown>, string, string>;
  secrets_sealed: string;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ProviderEventReceiptsTable {
  provider_id: string;
  token: string;
  received_at: Date;
}

export interface ProvidersTables {
  providers: ProvidersTable;
  provider_event_receipts: ProviderEventReceiptsTable;
}
