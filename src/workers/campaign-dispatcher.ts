import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { newId } from '../lib/ids.ts';
import * as dispatch from '../modules/campaigns/dispatch-repo.ts';
import type { Job } from './runner.ts';

export interface CampaignDispatcherDeps {
  db: Kysely<DB>;
  logger: Logger;
  /** List members handled per transaction. */
  chunkSize?: number;
  now?: () => Date;
  /** Called inside each chunk's transaction just before it commits (tests use it to kill a worker there). */
  beforeCommit?: (campaignId: string, cursor: number) => void | Promise<void>;
  /** Called when a chunk queued messages, so the delivery job in this process wakes. */
  onQueued?: () => void;
}

/**
 * The bulk-worker. Each round takes one due campaign (row lock, SKIP LOCKED, so several workers on
 * PostgreSQL share the campaigns and the chunks of one campaign), and in ONE transaction: makes the
 * campaign's content on its first chunk (a snapshot of the template with the campaign's overrides),
 * creates one queued bulk message per active, unsuppressed member after the cursor (bounced,
 * complained and unsubscribed contacts and suppressed addresses count as skipped_suppressed
 * instead, as seed 000 says), and advances the cursor. A crash rolls the whole chunk back; the
 * unique index on (campaign_id, contact_id) makes a repeated chunk create nothing twice. The messages then go
 * through the shared delivery pipeline in lane 1, after transactional mail.
 */
export function createCampaignDispatcher(deps: CampaignDispatcherDeps): Job {
  const { db, logger } = deps;
  const chunkSize = deps.chunkSize ?? 1000;
  const now = deps.now ?? (() => new Date());

  async function dispatchChunk(): Promise<{ handled: number; queued: number }> {
    return db.transaction().execute(async (trx) => {
      const at = now();
      const campaign = await dispatch.claimDispatchable(trx, at);
      if (!campaign) return { handled: 0, queued: 0 };

      let contentId = campaign.content_id;
      if (!contentId) {
        const template = await dispatch.findTemplate(trx, campaign.key_id, campaign.template_id);
        if (!template) {
          // The template was deleted after the campaign was queued: nothing to send; leave it visible.
          logger.error({ campaign: campaign.id, template: campaign.template_id }, 'campaign template is gone; campaign paused');
          await trx.updateTable('campaigns').set({ status: 'paused', updated_at: at }).where('id', '=', campaign.id).execute();
          return { handled: 1, queued: 0 };
        }
        contentId = newId('mc');
        await dispatch.insertContent(trx, {
          id: contentId,
          key_id: campaign.key_id,
          from_email: campaign.from_email,
          from_name: campaign.from_name,
          reply_to: campaign.reply_to,
          subject: campaign.subject ?? template.subject,
          html: template.html,
          text: template.body_text,
          settings: { liquid: true, list_unsubscribe: true, tracking: { open: campaign.tracking, click: campaign.tracking } },
          categories: [`campaign:${campaign.id}`],
        });
      }

      const chunk = await dispatch.dispatchChunk(trx, { ...campaign, content_id: contentId }, chunkSize, at);
      const cursor = chunk.lastContactId ?? campaign.cursor_contact_id;
      const done = chunk.members < chunkSize;
      await dispatch.advanceCursor(trx, campaign.id, { cursor, recipients: chunk.inserted, skipped: chunk.skipped, done, contentId, now: at });
      await deps.beforeCommit?.(campaign.id, cursor);
      return { handled: Math.max(1, chunk.members), queued: chunk.inserted };
    });
  }

  return {
    name: 'campaign-dispatcher',
    async runOnce() {
      const { handled, queued } = await dispatchChunk();
      if (queued) deps.onQueued?.();
      const finished = await dispatch.finishCampaigns(db, now());
      for (const id of finished) logger.info({ campaign: id }, 'campaign sent');
      return handled + finished.length;
    },
  };
}
