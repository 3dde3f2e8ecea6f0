import { sql, type Kysely } from 'kysely';

/** A step's open and click tracking, on unless turned off (campaigns have the same switch). */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table sequence_steps add column tracking boolean not null default true`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table sequence_steps drop column tracking`.execute(db);
}
