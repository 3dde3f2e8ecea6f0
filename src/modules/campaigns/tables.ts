import type { ColumnType, Generated } from 'kysely';

export type CampaignStatus = 'draft' | 'send' | 'paused' | 'cancelled' | 'sent';

export interface CampaignsTable {
  id: string;
  key_id: string;
  name: string;
  list_id: string;
  template_id: string;
  from_email: string;
  from_name: string | null;
  reply_to: string | null;
  /** Overrides the template's subject when set. */
  subject: string | null;
  tracking: ColumnType<boolean, boolean | undefined, boolean>;
  status: ColumnType<CampaignStatus, CampaignStatus | undefined, CampaignStatus>;
  send_at: Date | null;
  /** The one message_contents row every message of the campaign shares, made at the first chunk. */
  content_id: string | null;
  /** The dispatcher's durable cursor: every list member with a smaller or equal contact id is done. */
  cursor_contact_id: ColumnType<number, number | undefined, number>;
  dispatch_done: ColumnType<boolean, boolean | undefined, boolean>;
  recipients: ColumnType<number, number | undefined, number>;
  skipped_suppressed: ColumnType<number, number | undefined, number>;
  started_at: Date | null;
  sent_at: Date | null;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface CampaignsTables {
  campaigns: CampaignsTable;
}

// Bulk messages name the campaign and contact they were made for (migration 0300).
declare module '../messages/tables.ts' {
  interface MessagesTable {
    campaign_id: ColumnType<string | null, string | null | undefined, string | null>;
    contact_id: ColumnType<number | null, number | null | undefined, number | null>;
  }
}
