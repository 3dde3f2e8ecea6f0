import { sql, type Kysely } from 'kysely';

/**
 * The delivery pipeline's rows, shared by every kind of mail (transactional, campaigns, sequences, batches).
 * Content is stored once per request or campaign; a message is one copy to one envelope recipient.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table message_contents (
      id text primary key,
      key_id text not null references api_keys(id),
      from_email text not null,
      from_name text,
      reply_to jsonb,
      subject text not null,
      html text,
      text text,
      headers jsonb not null default '{}',
      attachments jsonb not null default '[]',
      categories jsonb not null default '[]',
      settings jsonb not null default '{}',
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table messages (
      id text primary key,
      key_id text not null references api_keys(id),
      content_id text not null references message_contents(id),
      request_id text,
      channel text not null check (channel in ('trans', 'bulk')),
      lane smallint not null,
      status text not null check (status in ('queued', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'dropped')),
      to_email text not null,
      to_name text,
      personalization jsonb not null default '{}',
      attempts integer not null default 0,
      due_at timestamptz not null default now(),
      lease_until timestamptz,
      last_response text,
      sent_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  // Workers claim by lane first (0 = transactional, 1 = bulk), then due time.
  await sql`create index messages_due on messages (lane, due_at) where status in ('queued', 'deferred', 'sending')`.execute(db);
  await sql`create index messages_key_created on messages (key_id, created_at desc, id)`.execute(db);
  await sql`create index messages_request on messages (request_id)`.execute(db);
  await sql`
    create table message_events (
      id bigserial primary key,
      message_id text not null references messages(id) on delete cascade,
      type text not null,
      at timestamptz not null default now(),
      data jsonb not null default '{}'
    )`.execute(db);
  await sql`create index message_events_message on message_events (message_id, id)`.execute(db);
  await sql`
    create table suppressions (
      key_id text not null references api_keys(id),
      email text not null,
      reason text not null check (reason in ('bounce', 'complaint', 'unsubscribe', 'manual')),
      source_type text not null,
      source_id text,
      detail text,
      created_at timestamptz not null default now(),
      primary key (key_id, email)
    )`.execute(db);
}
