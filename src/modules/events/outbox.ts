import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { EventType } from './catalog.ts';

/**
 * The event outbox. Events are written by the statement or transaction that makes the change they
 * report, so a change that rolls back reports nothing and one that commits is never lost. The same
 * statement makes their deliveries (a trigger on `events`, migration 1100); workers send them later;
 * nothing is published from memory.
 *
 * An event is kept only when its key has an enabled endpoint subscribed to its type at that moment:
 * a key without webhooks pays one index probe per change, not a row.
 */

export interface NewEvent {
  keyId: string;
  type: EventType;
  data: Record<string, unknown>;
}

/** True when an endpoint's `events` take this type: `*`, the type itself, or its family (`message.*`). */
export function receives(events: RawBuilder<unknown>, type: RawBuilder<unknown> | string): RawBuilder<boolean> {
  return sql<boolean>`${events} && array['*', (${type})::text, split_part((${type})::text, '.', 1) || '.*']`;
}

/** True when the key has an enabled endpoint that receives this type (SQL, for use inside statements). */
export function hasSubscriber(keyId: RawBuilder<unknown> | string, type: RawBuilder<unknown> | string): RawBuilder<boolean> {
  return sql<boolean>`exists (select 1 from webhooks w where w.key_id = ${keyId} and w.enabled and ${receives(sql.ref('w.events'), type)})`;
}

/** A fresh event id, made in SQL so that one statement can write many. */
export const newEventId = sql<string>`'evt_' || replace(gen_random_uuid()::text, '-', '')`;

/** Writes events in the caller's transaction (or alone); returns how many were kept. */
export async function emitEvents(db: Kysely<DB>, events: NewEvent[], at: Date): Promise<number> {
  const kept = events.length > 1 ? await subscribedOnly(db, events) : events;
  if (!kept.length) return 0;
  const rows = JSON.stringify(kept.map((e) => ({ key_id: e.keyId, type: e.type, data: e.data })));
  const result = await sql`
    insert into events (id, key_id, type, at, data)
    select ${newEventId}, e.key_id, e.type, ${at}, e.data
    from jsonb_to_recordset(${rows}::jsonb) as e(key_id text, type text, data jsonb)
    where ${hasSubscriber(sql.ref('e.key_id'), sql.ref('e.type'))}`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * The events whose key and type have a subscriber, asked once per distinct pair: a chunk of step
 * outcomes for a key without webhooks then sends a few ids, not every event's data, to be dropped.
 */
async function subscribedOnly(db: Kysely<DB>, events: NewEvent[]): Promise<NewEvent[]> {
  const pairs = [...new Set(events.map((e) => `${e.keyId}\n${e.type}`))].map((pair) => pair.split('\n') as [string, string]);
  const { rows } = await sql<{ k: string; t: string }>`
    select p.k, p.t from unnest(${pairs.map((p) => p[0])}::text[], ${pairs.map((p) => p[1])}::text[]) as p(k, t)
    where ${hasSubscriber(sql.ref('p.k'), sql.ref('p.t'))}`.execute(db);
  if (!rows.length) return [];
  const subscribed = new Set(rows.map((r) => `${r.k}\n${r.t}`));
  return events.filter((e) => subscribed.has(`${e.keyId}\n${e.type}`));
}

export function emitEvent(db: Kysely<DB>, event: NewEvent, at: Date): Promise<number> {
  return emitEvents(db, [event], at);
}

/**
 * The `data` of a message event, built in SQL from a messages row alias `m` and its content `c`
 * (custom_args: the request's, then the personalization's on top, as SendGrid merges them).
 */
export function messageEventData(m: string, c: string): RawBuilder<unknown> {
  const ref = (table: string, column: string) => sql.ref(`${table}.${column}`);
  return sql`jsonb_build_object(
    'message_id', ${ref(m, 'id')}, 'key_id', ${ref(m, 'key_id')}, 'email', ${ref(m, 'to_email')},
    'channel', ${ref(m, 'channel')}, 'campaign_id', ${ref(m, 'campaign_id')}, 'request_id', ${ref(m, 'request_id')},
    'custom_args', coalesce(${ref(c, 'settings')}->'custom_args', '{}'::jsonb) || coalesce(${ref(m, 'personalization')}->'custom_args', '{}'::jsonb))`;
}
