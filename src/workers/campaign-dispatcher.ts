import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.ts';
import { handOffLimit, type HandOff } from '../delivery/hand-off.ts';
import type { ClaimedMessage } from '../delivery/queue-repo.ts';
import { newId } from '../lib/ids.ts';
import * as dispatch from '../modules/campaigns/dispatch-repo.ts';
import type { ErasedAddressHasher } from '../modules/suppressions/erased.ts';
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
  /**
   * This process's sender: chunks are then created already claimed by it and handed over, and
   * dispatching keeps pace with sending (a chunk waits for room). Without it, chunks are queued
   * for any worker.
   */
  handOff?: HandOff;
  /** How long a round waits for the sender to make room before it ends (and the runner polls again). */
  roomWaitMs?: number;
  /** With it, a member whose address was erased (a hashed suppression entry) is skipped as suppressed. */
  erased?: ErasedAddressHasher;
}

/**
 * The bulk-worker. Each round takes one due campaign (row lock, SKIP LOCKED, so several workers on
 * PostgreSQL share the campaigns and the chunks of one campaign), and in ONE transaction: makes the
 * campaign's content on its first chunk (a snapshot of the template with the campaign's overrides),
 * creates one bulk message per active, unsuppressed member after the cursor (bounced,
 * complained and unsubscribed contacts and suppressed addresses count as skipped_suppressed
 * instead, as seed 000 says), and advances the cursor. A crash rolls the whole chunk back; the
 * unique index on (campaign_id, contact_id) makes a repeated chunk create nothing twice. The messages then go
 * through the shared delivery pipeline in lane 1, after transactional mail: queued for any worker,
 * or, with a hand-off, created already claimed by this process's sender (committed first, then handed).
 */
export function createCampaignDispatcher(deps: CampaignDispatcherDeps): Job {
  const { db, logger } = deps;
  const chunkSize = deps.chunkSize ?? 1000;
  const now = deps.now ?? (() => new Date());

  async function dispatchChunk(limit: number): Promise<{ handled: number; queued: number; claimed: ClaimedMessage[] }> {
    await deps.erased?.ready();
    return db.transaction().execute(async (trx) => {
      const at = now();
      const campaign = await dispatch.claimDispatchable(trx, at);
      if (!campaign) return { handled: 0, queued: 0, claimed: [] };

      let contentId = campaign.content_id;
      if (!contentId) {
        const template = await dispatch.findTemplate(trx, campaign.key_id, campaign.template_id);
        if (!template) {
          // The template was deleted after the campaign was queued: nothing to send; leave it visible.
          logger.error({ campaign: campaign.id, template: campaign.template_id }, 'campaign template is gone; campaign paused');
          await trx.updateTable('campaigns').set({ status: 'paused', updated_at: at }).where('id', '=', campaign.id).execute();
          return { handled: 1, queued: 0, claimed: [] };
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

      const leaseUntil = deps.handOff ? new Date(at.getTime() + deps.handOff.leaseMs) : null;
      const erasedKeys = deps.erased ? await deps.erased.keysFor(campaign.key_id) : undefined;
      const chunk = await dispatch.dispatchChunk(trx, { ...campaign, content_id: contentId }, limit, at, leaseUntil, erasedKeys);
      const cursor = chunk.lastContactId ?? campaign.cursor_contact_id;
      const done = chunk.members < limit;
      await dispatch.advanceCursor(trx, campaign.id, { cursor, recipients: chunk.inserted, skipped: chunk.skipped, done, contentId, now: at });
      await deps.beforeCommit?.(campaign.id, cursor);
      return { handled: Math.max(1, chunk.members), queued: chunk.inserted, claimed: chunk.claimed };
    });
  }

  return {
    name: 'campaign-dispatcher',
    async runOnce() {
      const limit = await handOffLimit(deps.handOff, chunkSize, deps.roomWaitMs ?? 1000);
      const { handled, queued, claimed } = limit > 0 ? await dispatchChunk(limit) : { handled: 0, queued: 0, claimed: [] };
      // Only once committed: a rolled-back chunk's messages never existed.
      if (claimed.length) deps.handOff?.put(claimed);
      if (queued) deps.onQueued?.();
      const finished = await dispatch.finishCampaigns(db, now());
      for (const id of finished) logger.info({ campaign: id }, 'campaign sent');
      return handled + finished.length;
    },
  };
}
