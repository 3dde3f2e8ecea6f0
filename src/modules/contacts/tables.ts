import type { ColumnType, Generated } from 'kysely';

export type ContactStatus = 'active' | 'unsubscribed' | 'bounced' | 'complained';

export interface ContactsTable {
  id: Generated<number>;
  key_id: string;
  /** As the user gave it; compared lower-cased (unique index on key_id, lower(email)). */
  email: string;
  name: string | null;
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
  status: ColumnType<ContactStatus, ContactStatus | undefined, ContactStatus>;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** A contact's history: status changes and suppression-list removals, with who did them. */
export interface ContactEventsTable {
  id: Generated<number>;
  key_id: string;
  contact_id: number | null;
  email: string;
  /** status_changed | unsuppressed */
  type: string;
  from_status: string | null;
  to_status: string | null;
  /** api | import | bounce | complaint | unsubscribe | ... */
  source: string;
  at: Generated<Date>;
}

export interface ContactsTables {
  contacts: ContactsTable;
  contact_events: ContactEventsTable;
}
