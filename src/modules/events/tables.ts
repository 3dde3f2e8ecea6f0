import type { ColumnType, Generated, JSONColumnType } from 'kysely';

export interface EventsTable {
  /** Event time order (an identity): deliveries to one endpoint go out in this order. */
  seq: Generated<string>;
  /** `evt_…`: the webhook-id of every delivery of this event. */
  id: string;
  key_id: string;
  type: string;
  at: ColumnType<Date, Date | string, Date | string>;
  data: JSONColumnType<Record<string, unknown>, string, string>;
}

export interface EventsTables {
  events: EventsTable;
}
