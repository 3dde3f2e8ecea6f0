import { sql, type Kysely } from 'kysely';

/** Contacts (one per address per key, case-insensitively), their history, lists and templates. */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table contacts (
      id bigserial primary key,
      key_id text not null references api_keys(id),
      email text not null,
      name text,
      metadata jsonb not null default '{}'::jsonb,
      status text not null default 'active' check (status in ('active', 'unsubscribed', 'bounced', 'complained')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  // The address is stored as given and compared without case: this index is the upsert target.
  await sql`create unique index contacts_key_email on contacts (key_id, lower(email))`.execute(db);
  await sql`create index contacts_key_status on contacts (key_id, status, id)`.execute(db);

  // Status changes and suppression-list removals, so taking an address off is never silent.
  await sql`
    create table contact_events (
      id bigserial primary key,
      key_id text not null,
      contact_id bigint,
      email text not null,
      type text not null,
      from_status text,
      to_status text,
      source text not null,
      at timestamptz not null default now()
    )`.execute(db);
  await sql`create index contact_events_email on contact_events (key_id, lower(email), id)`.execute(db);

  await sql`
    create table lists (
      id text primary key,
      key_id text not null references api_keys(id),
      name text not null,
      description text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index lists_key on lists (key_id, created_at desc, id)`.execute(db);
  await sql`
    create table list_members (
      list_id text not null references lists(id) on delete cascade,
      contact_id bigint not null references contacts(id) on delete cascade,
      added_at timestamptz not null default now(),
      primary key (list_id, contact_id)
    )`.execute(db);
  await sql`create index list_members_contact on list_members (contact_id)`.execute(db);

  await sql`
    create table templates (
      id text primary key,
      key_id text not null references api_keys(id),
      name text not null,
      subject text not null,
      html text,
      body_text text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index templates_key on templates (key_id, created_at desc, id)`.execute(db);
}
