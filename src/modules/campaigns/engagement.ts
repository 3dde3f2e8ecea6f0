import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { EngagementSource } from '../contacts/engagement.ts';

/**
 * The contacts module's engagement history, from campaign mail: every campaign message sent to the
 * contact's address, with whether it was opened or clicked (unique events recorded by the tracking
 * links). The score itself is the contacts module's pure rule (engagementScore in contacts/rules.ts).
 */
export const campaignEngagement: EngagementSource = async (db: Kysely<DB>, contact) => {
  const { rows } = await sql<{ campaign_id: string; campaign_name: string; sent_at: Date; opened_at: Date | null; clicked_at: Date | null }>`
    select m.campaign_id, c.name as campaign_name, m.sent_at,
           max(e.at) filter (where e.type = 'opened') as opened_at,
           max(e.at) filter (where e.type = 'clicked') as clicked_at
    from messages m
    join campaigns c on c.id = m.campaign_id
    left join message_events e on e.message_id = m.id and e.type in ('opened', 'clicked')
    where m.key_id = ${contact.key_id} and lower(m.to_email) = lower(${contact.email}) and m.campaign_id is not null and m.sent_at is not null
    group by m.id, m.campaign_id, c.name, m.sent_at
    order by m.sent_at desc, m.id`.execute(db);
  let last: Date | null = null;
  for (const r of rows) {
    for (const at of [r.opened_at, r.clicked_at]) {
      if (at && (!last || new Date(at) > last)) last = new Date(at);
    }
  }
  return {
    sends: rows.map((r) => ({
      campaign_id: r.campaign_id,
      campaign_name: r.campaign_name,
      sent_at: new Date(r.sent_at).toISOString(),
      opened: r.opened_at !== null,
      clicked: r.clicked_at !== null,
    })),
    lastEngagementAt: last,
  };
};
