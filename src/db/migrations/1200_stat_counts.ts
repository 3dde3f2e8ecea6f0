import { sql, type Kysely } from 'kysely';

/**
 * Aggregates (issue 16): event counts per hour, per key and channel, for the key itself and for each
 * campaign, batch and sequence. They are written by the statement that makes the change they count,
 * one upsert per group of rows changed together, so the statistics outlive the message log.
 *
 * The primary key serves every read: a key's hours in a range (scope 'key', scope_id ''), and all
 * hours of one campaign, batch or sequence.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table stat_counts (
      scope text not null check (scope in ('key', 'campaign', 'batch', 'sequence')),
      key_id text not null,
      scope_id text not null,
      hour timestamptz not null,
      channel text not null check (channel in ('trans', 'bulk')),
      sent bigint not null default 0,
      delivered bigint not null default 0,
      deferred bigint not null default 0,
      bounced bigint not null default 0,
      bounced_after_sent bigint not null default 0,
      complained bigint not null default 0,
      opened bigint not null default 0,
      clicked bigint not null default 0,
      unsubscribed bigint not null default 0,
      failed bigint not null default 0,
      dropped bigint not null default 0,
      primary key (scope, key_id, scope_id, hour, channel)
    )`.execute(db);
  // Every key's hours in a range (an admin's view across keys).
  await sql`create index stat_counts_hour on stat_counts (hour) where scope = 'key'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table stat_counts`.execute(db);
}
