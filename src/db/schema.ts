import type { DomainsTables } from '../modules/domains/tables.ts';
import type { KeysTables } from '../modules/keys/tables.ts';
import type { MessagesTables } from '../modules/messages/tables.ts';

export interface SettingsTable {
  name: string;
  value: string;
}

/** The whole database as Kysely sees it: each feature declares its own tables. */
export interface DB extends KeysTables, DomainsTables, MessagesTables {
  settings: SettingsTable;
}
