import { sql, type Kysely } from 'kysely';

/**
 * The id an email service provider gave a message it accepted (SES MessageId, SendGrid X-Message-Id,
 * Mailgun id, Postmark MessageID), so its events can be matched by it. SendGrid and Mailgun give one
 * id to every recipient of a batched call: the lookup is by id and recipient.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table messages add column provider_message_id text`.execute(db);
  await sql`create index messages_provider_message_id on messages (provider_message_id) where provider_message_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index messages_provider_message_id`.execute(db);
  await sql`alter table messages drop column provider_message_id`.execute(db);
}
