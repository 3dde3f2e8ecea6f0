// The campaign of the benchmarks (a ~4 KB template, a list of `contacts` members): bench/campaign.ts, and
// bench/webhooks.ts, which sends the same campaign under other conditions.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { createScratchDatabase } from '../../test/support/scratch-postgres.ts';

const paragraph =
  'Our spring collection is here: light jackets, linen shirts and the sandals you asked for. Members get early access ' +
  'and free returns for thirty days. Read the full story on our blog, or reply to this message with any question. ';
export const HTML = `<!doctype html><html><body><h1>Hello {{ name }}</h1>${Array.from({ length: 9 }, (_, i) => `<p>${paragraph} <a href="https://bench.example/p/${i}">See more</a></p>`).join('\n')}<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>`;
export const TEXT = `Hello {{ name }},\n\n${Array.from({ length: 4 }, () => paragraph).join('\n\n')}\n\nUnsubscribe: {{ unsubscribe_url }}`;

export async function seedCampaign(database: Database, keyId: string, contacts: number): Promise<{ listId: string; templateId: string }> {
  const listId = 'bench-list-000001';
  const templateId = 'bench-template-000001';
  await database.db.insertInto('lists').values({ id: listId, key_id: keyId, name: 'Bench', description: null }).execute();
  await database.db.insertInto('templates').values({ id: templateId, key_id: keyId, name: 'Bench', subject: 'Spring offers for {{ name }}', html: HTML, body_text: TEXT }).execute();
  await sql`
    insert into contacts (key_id, email, name, metadata)
    select ${keyId}, 'reader' || g || '@example.org', 'Reader ' || g, jsonb_build_object('plan', case when g % 2 = 0 then 'pro' else 'free' end)
    from generate_series(1, ${contacts}) g`.execute(database.db);
  await sql`insert into list_members (list_id, contact_id) select ${listId}, id from contacts where key_id = ${keyId}`.execute(database.db);
  return { listId, templateId };
}

/** SMTP sessions of the campaign benchmarks: as many as smtp-source opens for the ceiling. */
export const CONNECTIONS = 16;

/** A fresh database of the engine: PGlite in memory, or a scratch database on BENCH_DATABASE_URL's server. */
export async function openBenchEngine(engine: string): Promise<Database & { drop(): Promise<void> }> {
  if (engine === 'pglite-disk') {
    // PGlite as the server runs it (MAILERDASH_DATA_DIR): its files on disk, not in the process's memory.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'md-bench-pglite-'));
    return { ...(await openDatabase({ databaseUrl: null, dataDir: dir })), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (engine === 'pglite') return { ...(await openDatabase({ databaseUrl: null, dataDir: null })), drop: async () => {} };
  const scratch = await createScratchDatabase(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', 'md_bench');
  const database = await openDatabase({ databaseUrl: scratch.url, dataDir: null, poolSize: 8 });
  return { ...database, drop: scratch.drop };
}

/** The configuration the campaign benchmarks send with, into the smtp-sink on `sinkPort`. */
export function campaignBenchConfig(sinkPort: number, extra: Record<string, string> = {}): Config {
  return loadConfig({
    MAILERDASH_HOSTNAME: 'bench.example',
    MAILERDASH_SMTP_URL: `smtp://127.0.0.1:${sinkPort}`,
    MAILERDASH_PUBLIC_URL: 'https://links.bench.example',
    MAILERDASH_BULK_CONCURRENCY: String(CONNECTIONS * 4),
    MAILERDASH_SMTP_CONNECTIONS: String(CONNECTIONS),
    MAILERDASH_WORKER_POLL_MS: '20',
    ...extra,
  });
}
