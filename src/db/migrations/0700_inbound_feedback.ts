import { sql, type Kysely } from 'kysely';

/**
 * The inbound feedback loop: every mail the inbound listener accepts is stored raw first (a report),
 * then processed by a worker; soft bounces are counted per address; a DSN or ARF report that is
 * processed twice (a worker died after its effects) records its delivered / complained event once.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table inbound_reports (
      id text primary key,
      received_at timestamptz not null default now(),
      remote_ip text,
      mail_from text,
      rcpt_to text not null,
      size integer not null,
      raw bytea not null,
      key_id text,
      message_id text,
      form text,
      status text not null default 'pending' check (status in ('pending', 'processed', 'unmatched', 'failed')),
      result jsonb,
      error text,
      attempts integer not null default 0,
      due_at timestamptz not null default now(),
      lease_until timestamptz,
      processed_at timestamptz
    )`.execute(db);
  await sql`create index inbound_reports_due on inbound_reports (due_at) where status = 'pending'`.execute(db);
  await sql`create index inbound_reports_status on inbound_reports (status, received_at desc)`.execute(db);
  await sql`
    create table soft_bounces (
      message_id text primary key,
      key_id text not null,
      email text not null,
      at timestamptz not null,
      reason text
    )`.execute(db);
  await sql`create index soft_bounces_address on soft_bounces (key_id, email, at)`.execute(db);
  await sql`create unique index message_events_feedback_once on message_events (message_id, type) where type in ('delivered', 'complained')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index message_events_feedback_once`.execute(db);
  await sql`drop table soft_bounces`.execute(db);
  await sql`drop table inbound_reports`.execute(db);
}
