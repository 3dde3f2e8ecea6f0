import type { ColumnType, Generated } from 'kysely';

export interface ListsTable {
  id: string;
  key_id: string;
  name: string;
  description: string | null;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ListMembersTable {
  list_id: string;
  contact_id: number;
  added_at: Generated<Date>;
}

export interface ListsTables {
  lists: ListsTable;
  list_members: ListMembersTable;
}
