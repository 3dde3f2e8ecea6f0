import { sql, type Kysely } from 'kysely';

/**
 * Fan-out at emit time. Every statement that writes events now also writes their deliveries, one per
 * enabled endpoint of the event's key that receives its type, in the same statement and so the same
 * transaction: a statement-level trigger reading the rows it inserted. There is no window between an
 * event and its deliveries for a crash to fall into, and no later pass that rewrites every event row
 * to mark it fanned out (an update that could not be HOT, the partial index's predicate changing).
 * Which endpoints subscribe is read from the `webhooks` table by the inserting statement itself, so
 * it is never stale. `webhook.test` events are left out: each is written with its one delivery, for the
 * endpoint it tests only. A new delivery's next_attempt_at is null: due at once, on whatever clock the
 * delivery worker keeps (the event's own time may be ahead of it).
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Events written before the upgrade and not yet fanned out get their deliveries now.
  await sql`
    insert into webhook_deliveries (key_id, endpoint_id, event_seq, event_type, next_attempt_at, created_at)
    select e.key_id, w.id, e.seq, e.type, null, now()
    from events e join webhooks w on w.key_id = e.key_id and w.enabled
      and w.events && array['*', e.type, split_part(e.type, '.', 1) || '.*']
    where not e.fanned_out and e.type <> 'webhook.test'
    order by e.seq
    on conflict (endpoint_id, event_seq) do nothing`.execute(db);
  await sql`drop index events_to_fan_out`.execute(db);
  await sql`alter table events drop column fanned_out`.execute(db);

  await sql`
    create function events_fan_out() returns trigger language plpgsql as $$
    begin
      insert into webhook_deliveries (key_id, endpoint_id, event_seq, event_type, next_attempt_at, created_at)
      select n.key_id, w.id, n.seq, n.type, null, n.at
      from new_events n join webhooks w on w.key_id = n.key_id and w.enabled
        and w.events && array['*', n.type, split_part(n.type, '.', 1) || '.*']
      where n.type <> 'webhook.test'
      order by n.seq;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger events_fan_out after insert on events
    referencing new table as new_events for each statement execute function events_fan_out()`.execute(db);
}
