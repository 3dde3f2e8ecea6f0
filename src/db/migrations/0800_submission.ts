import { sql, type Kysely } from 'kysely';

/**
 * The SMTP submission relay (issue 17).
 *
 * - `message_contents.raw_mime`: a submitted message exactly as the client wrote it (less the headers
 *   the relay consumes: Bcc, X-SMTPAPI, X-Md-Channel). Null for API content, which is composed.
 * - `message_contents.submitted_id`: the submitted Message-ID, unique per key, so a client that retries
 *   after losing the 250 (the relay committed, then died) is answered with the first ids, not queued twice.
 * - `submission_counters`: fixed-window counters shared by every listener (per-key message rate,
 *   failed logins per client address), one row per bucket, reset in place when its window moves on.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table message_contents add column raw_mime bytea, add column submitted_id text`.execute(db);
  await sql`create unique index message_contents_submitted_id on message_contents (key_id, submitted_id) where submitted_id is not null`.execute(db);
  await sql`
    create table submission_counters (
      bucket text primary key,
      window_start timestamptz not null,
      count integer not null
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table submission_counters`.execute(db);
  await sql`alter table message_contents drop column raw_mime, drop column submitted_id`.execute(db);
}
