import { sql, type Kysely } from 'kysely';

/**
 * Batches (issue 12): one submission of up to 100,000 recipients, routed between named providers.
 * Every recipient keeps a row (accepted or rejected, with its reason) so the export is complete;
 * accepted ones point at their message. Messages record the provider that took them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table messages add column provider text`.execute(db);
  await sql`alter table messages add column batch_id text`.execute(db);
  await sql`create index messages_batch on messages (batch_id, status) where batch_id is not null`.execute(db);
  await sql`
    create table batches (
      id text primary key,
      key_id text not null references api_keys(id),
      status text not null check (status in ('receiving', 'accepted', 'canary', 'awaiting_approval', 'sending', 'completed', 'cancelled')),
      outcome text check (outcome in ('success', 'partial', 'failed')),
      channel text not null check (channel in ('trans', 'bulk')),
      content_id text references message_contents(id),
      idempotency_key text,
      policy jsonb,
      canary jsonb,
      hold jsonb,
      submitted integer not null default 0,
      accepted integer not null default 0,
      rejected integer not null default 0,
      send_at timestamptz,
      progress_seq integer not null default 0,
      progress_at timestamptz,
      progress_counts jsonb,
      webhook_progress_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      completed_at timestamptz
    )`.execute(db);
  await sql`create index batches_key_created on batches (key_id, created_at desc, id)`.execute(db);
  await sql`create index batches_live on batches (status) where status in ('receiving', 'accepted', 'canary', 'sending')`.execute(db);
  await sql`
    create table batch_recipients (
      batch_id text not null references batches(id) on delete cascade,
      seq integer not null,
      email text not null,
      name text,
      variables jsonb,
      idempotency_key text,
      rejection text,
      message_id text,
      canary boolean not null default false,
      primary key (batch_id, seq)
    )`.execute(db);
  await sql`
    create table batch_recipient_keys (
      key_id text not null,
      idempotency_key text not null,
      batch_id text not null,
      message_id text,
      created_at timestamptz not null,
      primary key (key_id, idempotency_key)
    )`.execute(db);
  await sql`
    create table batch_decisions (
      id bigserial primary key,
      batch_id text not null references batches(id) on delete cascade,
      provider text,
      reason text not null,
      detail text,
      count integer not null,
      first_at timestamptz not null,
      last_at timestamptz not null
    )`.execute(db);
  await sql`create index batch_decisions_batch on batch_decisions (batch_id, id)`.execute(db);
  await sql`
    create table batch_progress (
      batch_id text not null references batches(id) on delete cascade,
      seq integer not null,
      type text not null,
      at timestamptz not null,
      data jsonb not null,
      primary key (batch_id, seq)
    )`.execute(db);
  // Recipients a provider took per hour for a key's batches: the hourly cap, shared by every worker process.
  await sql`
    create table provider_hourly_usage (
      key_id text not null,
      provider text not null,
      hour timestamptz not null,
      used integer not null,
      primary key (key_id, provider, hour)
    )`.execute(db);
}
