import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { ContactRow } from './repo.ts';
import { engagementScore, type EngagementScore } from './rules.ts';

export interface EngagementSend {
  campaign_id: string;
  campaign_name: string;
  sent_at: string;
  opened: boolean;
  clicked: boolean;
}

export interface Engagement {
  email: string;
  sends: EngagementSend[];
  totals: { sends: number; opens: number; clicks: number };
  score: EngagementScore;
  last_engagement_at: string | null;
}

/** What a contact received and did with it; the campaigns module supplies the sends. */
export interface EngagementHistory {
  sends: EngagementSend[];
  /** The latest open or click, if any. */
  lastEngagementAt: Date | null;
}

export type EngagementSource = (db: Kysely<DB>, contact: ContactRow) => Promise<EngagementHistory>;

/** Until campaigns record sends, a contact has received nothing. */
export const noSends: EngagementSource = async () => ({ sends: [], lastEngagementAt: null });

/** Builds the seed's engagement response from a history (totals and score are derived here). */
export function engagementOf(contact: ContactRow, history: EngagementHistory, now: Date): Engagement {
  return {
    email: contact.email,
    sends: history.sends,
    totals: {
      sends: history.sends.length,
      opens: history.sends.filter((s) => s.opened).length,
      clicks: history.sends.filter((s) => s.clicked).length,
    },
    score: engagementScore(history.lastEngagementAt, now),
    last_engagement_at: history.lastEngagementAt ? history.lastEngagementAt.toISOString() : null,
  };
}
