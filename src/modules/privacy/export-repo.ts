import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';

/** The newest messages an export lists (each with its events); older ones are counted only. */
export const EXPORT_MESSAGE_LIMIT = 10_000;

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** Everything one key holds about an address (lower-cased), as JSON-ready objects. */
export async function exportFor(db: Kysely<DB>, keyId: string, email: string) {
  const lowerIs = (column: string) => sql<boolean>`lower(${sql.ref(column)}) = ${email}`;
  const contact = await db.selectFrom('contacts').select(['id', 'email', 'name', 'metadata', 'status', 'created_at', 'updated_at']).where('key_id', '=', keyId).where(lowerIs('email')).executeTakeFirst();
  const [lists, suppression, suppressionLog, subscriptions, messages, messageTotal, recipients, softBounces, history] = await Promise.all([
    contact
      ? db.selectFrom('list_members as m').innerJoin('lists as l', 'l.id', 'm.list_id').select(['l.id', 'l.name', 'm.added_at']).where('m.contact_id', '=', contact.id).orderBy('l.id').execute()
      : [],
    db.selectFrom('suppressions').select(['reason', 'source_type', 'source_id', 'detail', 'created_at']).where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst(),
    db.selectFrom('suppression_log').select(['action', 'reason', 'source_type', 'source_id', 'at']).where('key_id', '=', keyId).where('email', '=', email).orderBy('id').execute(),
    db
      .selectFrom('sequence_subscribers')
      .select(['id', 'sequence_id', 'status', 'cancel_reason', 'variables', 'current_position', 'started_at', 'created_at'])
      .where('key_id', '=', keyId)
      .where('email', '=', email)
      .orderBy('created_at')
      .execute(),
    db
      .selectFrom('messages as m')
      .innerJoin('message_contents as c', 'c.id', 'm.content_id')
      .select(['m.id', 'm.channel', 'm.status', 'm.to_email', 'm.to_name', 'm.personalization', 'm.campaign_id', 'm.batch_id', 'm.sequence_subscriber_id', 'm.last_response', 'm.created_at', 'm.sent_at', 'c.subject', 'c.from_email'])
      .where('m.key_id', '=', keyId)
      .where(lowerIs('m.to_email'))
      .orderBy('m.created_at', 'desc')
      .limit(EXPORT_MESSAGE_LIMIT)
      .execute(),
    db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('key_id', '=', keyId).where(lowerIs('to_email')).executeTakeFirstOrThrow(),
    db
      .selectFrom('batch_recipients as r')
      .innerJoin('batches as b', 'b.id', 'r.batch_id')
      .select(['r.batch_id', 'r.email', 'r.name', 'r.variables', 'r.rejection', 'r.message_id'])
      .where('b.key_id', '=', keyId)
      .where(lowerIs('r.email'))
      .execute(),
    db.selectFrom('soft_bounces').select(['message_id', 'at', 'reason']).where('key_id', '=', keyId).where(lowerIs('email')).orderBy('at').execute(),
    db.selectFrom('contact_events').select(['type', 'from_status', 'to_status', 'source', 'at']).where('key_id', '=', keyId).where(lowerIs('email')).orderBy('id').execute(),
  ]);
  const ids = messages.map((m) => m.id);
  const events = ids.length ? await db.selectFrom('message_events').select(['message_id', 'type', 'at', 'data']).where('message_id', 'in', ids).orderBy('id').execute() : [];
  const eventsOf = new Map<string, { type: string; at: string | null; data: unknown }[]>();
  for (const e of events) eventsOf.set(e.message_id, [...(eventsOf.get(e.message_id) ?? []), { type: e.type, at: iso(e.at), data: e.data }]);
  return {
    key_id: keyId,
    contact: contact ? { ...contact, id: Number(contact.id), created_at: iso(contact.created_at), updated_at: iso(contact.updated_at), lists: lists.map((l) => ({ id: l.id, name: l.name, added_at: iso(l.added_at) })) } : null,
    suppression: suppression ? { ...suppression, created_at: iso(suppression.created_at), history: suppressionLog.map((h) => ({ ...h, at: iso(h.at) })) } : null,
    sequence_subscriptions: subscriptions.map((s) => ({ ...s, started_at: iso(s.started_at), created_at: iso(s.created_at) })),
    messages: messages.map((m) => ({ ...m, created_at: iso(m.created_at), sent_at: iso(m.sent_at), events: eventsOf.get(m.id) ?? [] })),
    messages_total: Number(messageTotal.n),
    batch_recipients: recipients,
    soft_bounces: softBounces.map((b) => ({ ...b, at: iso(b.at) })),
    contact_history: history.map((h) => ({ ...h, at: iso(h.at) })),
  };
}
