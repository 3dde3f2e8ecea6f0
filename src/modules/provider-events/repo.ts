import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

/**
 * Which of our messages carries one of these provider message ids: for an operator provider among
 * the messages it took (`provider` = its name), for a key's provider among that key's messages.
 * SendGrid and Mailgun give every recipient of a batched call the same id, so the recipient
 * decides between them; an id that still names several messages matches none.
 */
export async function messageByProviderId(db: Kysely<DB>, scope: { keyId: string | null; provider: string }, ids: string[], recipient: string | undefined): Promise<string | null> {
  let query = db.selectFrom('messages').select('id').where('provider_message_id', '=', sql<string>`any(${ids}::text[])`);
  query = scope.keyId ? query.where('key_id', '=', scope.keyId) : query.where('provider', '=', scope.provider);
  if (recipient) query = query.where(sql`lower(to_email)`, '=', recipient.toLowerCase());
  const rows = await query.limit(2).execute();
  return rows.length === 1 ? rows[0]!.id : null;
}
