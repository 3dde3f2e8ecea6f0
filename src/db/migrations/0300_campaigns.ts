import { sql, type Kysely } from 'kysely';

/**
 * Campaigns (with the dispatcher's durable cursor), the campaign and contact a bulk message was made
 * for, the audit trail of suppression changes, and unique engagement events.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table campaigns (
      id text primary key,
      key_id text not null references api_keys(id),
      name text not null,
      list_id text not null,
      template_id text not null,
      from_email text not null,
      from_name text,
      reply_to text,
      subject text,
      tracking boolean not null default true,
      status text not null default 'draft' check (status in ('draft', 'send', 'paused', 'cancelled', 'sent')),
      send_at timestamptz,
      content_id text references message_contents(id),
      cursor_contact_id bigint not null default 0,
      dispatch_done boolean not null default false,
      recipients integer not null default 0,
      skipped_suppressed integer not null default 0,
      started_at timestamptz,
      sent_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index campaigns_key_created on campaigns (key_id, created_at desc, id)`.execute(db);
  await sql`create index campaigns_due on campaigns (send_at) where status = 'send'`.execute(db);

  await sql`alter table messages add column campaign_id text`.execute(db);
  await sql`alter table messages add column contact_id bigint`.execute(db);
  // A contact gets at most one message per campaign, whatever crashes and restarts happen.
  await sql`create unique index messages_campaign_contact on messages (campaign_id, contact_id) where campaign_id is not null`.execute(db);
  // Only the unfinished messages of campaigns: "is this campaign done?" is one probe of a small index.
  await sql`create index messages_campaign_pending on messages (campaign_id) where campaign_id is not null and status in ('queued', 'sending', 'deferred')`.execute(db);

  // An open, click or unsubscribe counts once per message, however often the pixel or link is hit.
  await sql`create unique index message_events_unique_engagement on message_events (message_id, type) where type in ('opened', 'clicked', 'unsubscribed')`.execute(db);

  await sql`
    create table suppression_log (
      id bigserial primary key,
      key_id text not null,
      email text not null,
      action text not null check (action in ('added', 'removed')),
      reason text,
      source_type text,
      source_id text,
      at timestamptz not null default now()
    )`.execute(db);
  await sql`create index suppression_log_email on suppression_log (key_id, email, id)`.execute(db);
  await sql`create index suppressions_key_reason on suppressions (key_id, reason, created_at desc)`.execute(db);
}
