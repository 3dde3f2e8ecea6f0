import { sql, type Kysely } from 'kysely';

/**
 * The event outbox and webhooks. An event row is written in the transaction of the state change it
 * reports; the fan-out job turns it into one delivery per subscribed endpoint; the delivery job
 * sends each delivery until it succeeds or its retries run out.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table webhooks (
      id text primary key,
      key_id text not null references api_keys(id),
      url text not null,
      description text,
      events text[] not null default '{*}',
      enabled boolean not null default true,
      disabled_reason text,
      disabled_at timestamptz,
      -- Sealed (AES-256-GCM under the server secret): signing needs the secret itself.
      secret_sealed text not null,
      previous_secret_sealed text,
      previous_secret_until timestamptz,
      failing_since timestamptz,
      -- The one worker process delivering to this endpoint, while its lease holds.
      lease_owner text,
      lease_until timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index webhooks_key on webhooks (key_id, created_at, id)`.execute(db);

  await sql`
    create table events (
      seq bigint generated always as identity primary key,
      id text not null,
      key_id text not null,
      type text not null,
      at timestamptz not null,
      data jsonb not null,
      fanned_out boolean not null default false
    )`.execute(db);
  // Only the events still to fan out: the fan-out job walks it from its start.
  await sql`create index events_to_fan_out on events (seq) where not fanned_out`.execute(db);

  await sql`
    create table webhook_deliveries (
      -- An identity (shown as whd_<n>): cheaper to index than a random id, at one row per event and endpoint.
      id bigint generated always as identity primary key,
      key_id text not null,
      endpoint_id text not null references webhooks(id) on delete cascade,
      event_seq bigint not null,
      event_type text not null,
      status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
      attempts integer not null default 0,
      next_attempt_at timestamptz,
      last_attempt_at timestamptz,
      last_status integer,
      last_error text,
      last_body text,
      delivered_at timestamptz,
      created_at timestamptz not null
    )`.execute(db);
  // An endpoint's pending deliveries in event order: the delivery job walks it from its cursor.
  await sql`create index webhook_deliveries_pending on webhook_deliveries (endpoint_id, event_seq) where status = 'pending'`.execute(db);
  // One delivery per event and endpoint whatever happens; also an endpoint's deliveries newest first.
  await sql`create unique index webhook_deliveries_endpoint_event on webhook_deliveries (endpoint_id, event_seq)`.execute(db);
}
