// The campaign of the benchmarks (a ~4 KB template, a list of `contacts` members): bench/campaign.ts, and
// bench/webhooks.ts, which sends the same campaign under other conditions.
import { sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';

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
