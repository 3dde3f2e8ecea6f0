import { sql, type Kysely } from 'kysely';

/**
 * Attachments leave message_contents.attachments (jsonb holding base64 text) for a table of their own
 * holding the decoded bytes: a 20 MB file is 20 MB of bytea, never a 27 MB JSON string stringified,
 * escaped into an array parameter and parsed again. Rows queued before this keep their jsonb, which
 * the send job still reads. An attachment is stored in parts of under 1 MB (a whole number of base64
 * lines), each a parameter and a row of its own: PGlite turns one 20 MB parameter into over a GB of
 * memory, and the send job reads and encodes one part at a time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table message_attachments (
      content_id text not null references message_contents(id) on delete cascade,
      key_id text not null references api_keys(id),
      seq integer not null,
      part integer not null,
      filename text not null,
      type text,
      disposition text not null check (disposition in ('attachment', 'inline')),
      cid text,
      data bytea not null,
      primary key (content_id, seq, part)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table message_attachments`.execute(db);
}
