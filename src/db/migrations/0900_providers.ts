import { sql, type Kysely } from 'kysely';

/**
 * Per-key email service providers (SES, SendGrid, Mailgun, Postmark), and the tokens of their
 * signed event posts already taken in, so a replayed post is refused by every process.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table providers (
      id text primary key,
      key_id text not null references api_keys(id),
      name text not null,
      type text not null check (type in ('ses', 'sendgrid', 'mailgun', 'postmark')),
      -- The configuration less its secrets (region, domain, base URL...).
      settings jsonb not null,
      -- The secret fields as one JSON object, sealed (AES-256-GCM under the server secret).
      secrets_sealed text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (key_id, name)
    )`.execute(db);
  await sql`create index providers_key on providers (key_id, created_at, id)`.execute(db);
  await sql`
    create table provider_event_receipts (
      provider_id text not null,
      -- Mailgun's token, SendGrid's signature, SNS's MessageId: what makes one post unique.
      token text not null,
      received_at timestamptz not null,
      primary key (provider_id, token)
    )`.execute(db);
  await sql`create index provider_event_receipts_age on provider_event_receipts (received_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table provider_event_receipts`.execute(db);
  await sql`drop table providers`.execute(db);
}
