import { sql, type Kysely } from 'kysely';

/**
 * The aggregates of the messages sent before they existed, read once from the log at upgrade (the
 * last time statistics come from messages). Each message counts in the hour it was sent (else last
 * changed), its timeline events with it: close enough for what was never counted by the hour.
 * A message sent and later bounced has sent_at and status bounced: sent, bounced and bounced_after_sent.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    with per_message as (
      select m.key_id, m.channel, m.campaign_id, m.batch_id, ss.sequence_id,
             date_trunc('hour', coalesce(m.sent_at, m.updated_at) at time zone 'UTC') at time zone 'UTC' as hour,
             (m.sent_at is not null)::int as sent,
             (m.status = 'bounced')::int as bounced,
             (m.status = 'bounced' and m.sent_at is not null)::int as bounced_after_sent,
             (m.status = 'failed')::int as failed,
             (m.status = 'dropped')::int as dropped,
             coalesce(e.delivered, 0) as delivered, coalesce(e.deferred, 0) as deferred, coalesce(e.complained, 0) as complained,
             coalesce(e.opened, 0) as opened, coalesce(e.clicked, 0) as clicked, coalesce(e.unsubscribed, 0) as unsubscribed
      from messages m
      left join sequence_subscribers ss on ss.id = m.sequence_subscriber_id
      left join (
        select message_id,
               count(*) filter (where type = 'deferred') as deferred,
               (count(*) filter (where type = 'delivered') > 0)::int as delivered,
               (count(*) filter (where type = 'complained') > 0)::int as complained,
               (count(*) filter (where type = 'opened') > 0)::int as opened,
               (count(*) filter (where type = 'clicked') > 0)::int as clicked,
               (count(*) filter (where type = 'unsubscribed') > 0)::int as unsubscribed
        from message_events group by message_id
      ) e on e.message_id = m.id
      where m.status in ('sent', 'bounced', 'failed', 'dropped') or e.message_id is not null
    )
    insert into stat_counts (scope, key_id, scope_id, hour, channel, sent, delivered, deferred, bounced, bounced_after_sent, complained, opened, clicked, unsubscribed, failed, dropped)
    select x.scope, p.key_id, x.scope_id, p.hour, p.channel,
           sum(p.sent), sum(p.delivered), sum(p.deferred), sum(p.bounced), sum(p.bounced_after_sent), sum(p.complained),
           sum(p.opened), sum(p.clicked), sum(p.unsubscribed), sum(p.failed), sum(p.dropped)
    from per_message p
    cross join lateral (values ('key', ''), ('campaign', p.campaign_id), ('batch', p.batch_id), ('sequence', p.sequence_id)) as x(scope, scope_id)
    where x.scope_id is not null
    group by x.scope, p.key_id, x.scope_id, p.hour, p.channel`.execute(db);
}
