import { sql, type Kysely } from 'kysely';

/**
 * Sequences (drip automations, seed 002): the sequence, its timed steps, and one row per subscription
 * that carries the subscriber's progress and the time its next step is due. The sending scheduler
 * claims due subscribers through `sequence_subscribers_due`; the messages it makes name the
 * subscription and the step position they were sent for. Meanings of every column:
 * src/modules/sequences/tables.ts.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table sequences (
      id text primary key,
      key_id text not null references api_keys(id),
      name text not null,
      status text not null default 'draft' check (status in ('draft', 'active', 'archived')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index sequences_key_created on sequences (key_id, created_at, id)`.execute(db);

  await sql`
    create table sequence_steps (
      id text primary key,
      sequence_id text not null references sequences(id) on delete cascade,
      key_id text not null,
      position integer not null check (position > 0),
      offset_seconds integer not null check (offset_seconds >= 0),
      subject text,
      html text,
      body_text text,
      from_email text,
      from_name text,
      reply_to text,
      template_id text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint sequence_steps_position unique (sequence_id, position)
    )`.execute(db);

  await sql`
    create table sequence_subscribers (
      id text primary key,
      key_id text not null,
      sequence_id text not null references sequences(id) on delete cascade,
      contact_id bigint not null,
      email text not null check (email = lower(email)),
      status text not null check (status in ('active', 'paused', 'completed', 'cancelled')),
      cancel_reason text check (cancel_reason in ('unsubscribed', 'manual', 'bounced', 'complained', 'suppressed')),
      variables jsonb not null default '{}',
      started_at timestamptz not null,
      current_position integer not null default 0,
      next_due_at timestamptz,
      lease_until timestamptz,
      paused_at timestamptz,
      completed_at timestamptz,
      cancelled_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint sequence_subscribers_cancel_reason check ((status = 'cancelled') = (cancel_reason is not null))
    )`.execute(db);
  // One live subscription per contact and sequence, whatever requests race.
  await sql`create unique index sequence_subscribers_live on sequence_subscribers (sequence_id, contact_id) where status in ('active', 'paused')`.execute(db);
  // The scheduler's due index: only subscribers with a step to wait for; later steps cost nothing per round.
  await sql`create index sequence_subscribers_due on sequence_subscribers (next_due_at) where status = 'active' and next_due_at is not null`.execute(db);
  // GET …/subscribers/{email}, and the list (filtered by status) with counts per status.
  await sql`create index sequence_subscribers_email on sequence_subscribers (sequence_id, email)`.execute(db);
  await sql`create index sequence_subscribers_list on sequence_subscribers (sequence_id, status, created_at, id)`.execute(db);
  // cancelSubscriptionsOf: every live subscription of one address of a key.
  await sql`create index sequence_subscribers_address on sequence_subscribers (key_id, email) where status in ('active', 'paused')`.execute(db);

  // Set by the scheduler on the messages it makes: which subscription and which step position.
  await sql`alter table messages add column sequence_subscriber_id text, add column sequence_step_position integer`.execute(db);
  await sql`create index messages_sequence_subscriber on messages (sequence_subscriber_id) where sequence_subscriber_id is not null`.execute(db);
}
