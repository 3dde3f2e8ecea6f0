import type { Kysely, Updateable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { conflict, forbidden, invalid, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import { recordAudit } from '../audit/repo.ts';
import { emitEvent } from '../events/outbox.ts';
import type { Principal } from '../keys/service.ts';
import { actionForStatus, nextStatus, type CampaignAction } from './lifecycle.ts';
import * as repo from './repo.ts';
import type { CampaignStatus, CampaignsTable } from './tables.ts';

export interface CampaignsServiceDeps {
  db: Kysely<DB>;
  isFromAllowed(keyId: string, fromAddress: string): Promise<boolean>;
  /** Called after a campaign became due, so an idle worker in this process looks at once. */
  onQueued?: () => void;
  /** MAILERDASH_PUBLIC_URL when only this machine can reach it: sending then needs an explicit override. */
  localLinksUrl?: string | null;
  now?: () => Date;
}

export interface CampaignFields {
  name?: string;
  list_id?: string;
  template_id?: string;
  from_email?: string;
  from_name?: string | null;
  reply_to?: string | null;
  subject?: string | null;
  send_at?: string | null;
  tracking?: boolean;
}

export interface CampaignView {
  id: string;
  key_id: string;
  name: string;
  list_id: string;
  template_id: string;
  from_email: string;
  from_name: string | null;
  reply_to: string | null;
  subject: string | null;
  tracking: boolean;
  status: CampaignStatus;
  send_at: string | null;
  started_at: string | null;
  sent_at: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

function toView(row: repo.CampaignRow): CampaignView {
  return {
    id: row.id,
    key_id: row.key_id,
    name: row.name,
    list_id: row.list_id,
    template_id: row.template_id,
    from_email: row.from_email,
    from_name: row.from_name,
    reply_to: row.reply_to,
    subject: row.subject,
    tracking: row.tracking,
    status: row.status,
    send_at: iso(row.send_at),
    started_at: iso(row.started_at),
    sent_at: iso(row.sent_at),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
  };
}

/** The lifecycle actions the audit log records, by their entry's action. */
const AUDITED: Partial<Record<CampaignAction, string>> = { send: 'campaign.send_started', pause: 'campaign.paused', resume: 'campaign.resumed', cancel: 'campaign.cancelled' };

export type CampaignsService = ReturnType<typeof createCampaignsService>;

export function createCampaignsService(deps: CampaignsServiceDeps) {
  const { db } = deps;
  const clock = deps.now ?? (() => new Date());

  async function own(trx: Kysely<DB>, principal: Principal, id: string, forUpdate = false): Promise<repo.CampaignRow> {
    const row = await repo.findCampaign(trx, principal.keyId, id, forUpdate);
    if (!row) throw notFound('campaign');
    return row;
  }

  /**
   * from on a verified domain (403). Asked before any transaction opens: the domains service reads
   * through its own handle, and the embedded database has one connection.
   */
  async function checkFrom(keyId: string, fromEmail: string): Promise<void> {
    if (!(await deps.isFromAllowed(keyId, fromEmail))) {
      throw forbidden('from_not_allowed', `${fromEmail} is not on a verified sending domain of this key`, 'from_email');
    }
  }

  /** Links on a localhost public URL reach no recipient: sending with them is a choice made out loud (409 otherwise). */
  function checkLinks(allowLocalLinks: boolean): void {
    if (!deps.localLinksUrl || allowLocalLinks) return;
    throw conflict(
      'local_links',
      `unsubscribe and tracking links would point at ${deps.localLinksUrl}, which recipients cannot reach: set MAILERDASH_PUBLIC_URL to this server's public address, or pass allow_local_links=true to send anyway`,
      'status',
    );
  }

  /** List and template of this key (400 naming the field). */
  async function checkReferences(trx: Kysely<DB>, keyId: string, c: { list_id: string; template_id: string }): Promise<void> {
    if (!(await repo.listExists(trx, keyId, c.list_id))) throw invalid('list_not_found', `list ${c.list_id} does not exist`, 'list_id');
    if (!(await repo.templateExists(trx, keyId, c.template_id))) throw invalid('template_not_found', `template ${c.template_id} does not exist`, 'template_id');
  }

  function allowed(row: repo.CampaignRow, action: CampaignAction): CampaignStatus {
    const next = nextStatus(row.status, action);
    if (!next) {
      throw conflict(`campaign_${row.status}`, `the campaign is ${row.status}: ${action} is not allowed`, action === 'edit' || action === 'delete' ? null : 'status');
    }
    return next;
  }

  /** Applies a lifecycle action inside the caller's transaction (the row is locked). */
  async function transition(trx: Kysely<DB>, principal: Principal, row: repo.CampaignRow, action: CampaignAction): Promise<repo.CampaignRow> {
    const status = allowed(row, action);
    if (action === 'send') await checkReferences(trx, row.key_id, row);
    if (action === 'pause') await repo.holdQueuedMessages(trx, row.id);
    if (action === 'resume') await repo.releaseHeldMessages(trx, row.id);
    if (action === 'cancel') await repo.dropUnsentMessages(trx, row.id, clock());
    const updated = await repo.updateCampaign(trx, row.id, { status });
    if (action === 'pause' || action === 'cancel') {
      const type = action === 'pause' ? 'campaign.paused' : 'campaign.cancelled';
      await emitEvent(trx, { keyId: row.key_id, type, data: { campaign_id: row.id, key_id: row.key_id, name: row.name, status } }, clock());
    }
    const audited = AUDITED[action];
    if (audited) {
      const summary = { name: row.name, previous_status: row.status, status, list_id: row.list_id, from_email: row.from_email };
      await recordAudit(trx, { keyId: principal.keyId, action: audited, objectType: 'campaign', objectId: row.id, summary }, clock());
    }
    return updated;
  }

  function fieldChanges(fields: CampaignFields): Updateable<CampaignsTable> {
    const changes: Updateable<CampaignsTable> = {};
    for (const key of ['name', 'list_id', 'template_id', 'from_email', 'from_name', 'reply_to', 'subject', 'tracking'] as const) {
      if (fields[key] !== undefined) (changes as Record<string, unknown>)[key] = fields[key];
    }
    if (fields.send_at !== undefined) changes.send_at = fields.send_at === null ? null : new Date(fields.send_at);
    return changes;
  }

  const notify = <T>(value: T, row: repo.CampaignRow): T => {
    if (row.status === 'send') deps.onQueued?.();
    return value;
  };

  return {
    async create(principal: Principal, input: CampaignFields & { name: string; list_id: string; template_id: string; from_email: string }): Promise<CampaignView> {
      await checkFrom(principal.keyId, input.from_email);
      await checkReferences(db, principal.keyId, input);
      const row = await repo.insertCampaign(db, {
        id: newId('camp'),
        key_id: principal.keyId,
        name: input.name,
        list_id: input.list_id,
        template_id: input.template_id,
        from_email: input.from_email,
        from_name: input.from_name ?? null,
        reply_to: input.reply_to ?? null,
        subject: input.subject ?? null,
        tracking: input.tracking ?? true,
        send_at: input.send_at ? new Date(input.send_at) : null,
      });
      return toView(row);
    },

    async get(principal: Principal, id: string): Promise<CampaignView> {
      return toView(await own(db, principal, id));
    },

    async list(scopeKeyId: string | null, filter: { status?: string; limit: number; offset: number }) {
      const { rows, total } = await repo.listCampaigns(db, { keyId: scopeKeyId, ...filter });
      return { data: rows.map(toView), total };
    },

    /** Edits a draft; `status` moves it through the lifecycle (send, paused, cancelled) after the edits. */
    async update(principal: Principal, id: string, input: CampaignFields & { status?: 'send' | 'paused' | 'cancelled' }, options: { allowLocalLinks?: boolean } = {}): Promise<CampaignView> {
      const current = await own(db, principal, id);
      if (input.status === 'send') checkLinks(options.allowLocalLinks ?? false);
      if (input.from_email !== undefined || input.status === 'send') await checkFrom(principal.keyId, input.from_email ?? current.from_email);
      const row = await db.transaction().execute(async (trx) => {
        let row = await own(trx, principal, id, true);
        const changes = fieldChanges(input);
        if (Object.keys(changes).length) {
          allowed(row, 'edit');
          const next = { ...row, ...changes } as repo.CampaignRow;
          if (input.status === undefined) await checkReferences(trx, row.key_id, next);
          row = await repo.updateCampaign(trx, row.id, changes);
        }
        if (input.status !== undefined) row = await transition(trx, principal, row, actionForStatus(row.status, input.status));
        return row;
      });
      return notify(toView(row), row);
    },

    async act(principal: Principal, id: string, action: 'send' | 'pause' | 'resume' | 'cancel', options: { allowLocalLinks?: boolean } = {}): Promise<CampaignView> {
      if (action === 'send') {
        const current = await own(db, principal, id);
        checkLinks(options.allowLocalLinks ?? false);
        await checkFrom(principal.keyId, current.from_email);
      }
      const row = await db.transaction().execute(async (trx) => transition(trx, principal, await own(trx, principal, id, true), action));
      return notify(toView(row), row);
    },

    async remove(principal: Principal, id: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await own(trx, principal, id, true);
        allowed(row, 'delete');
        await repo.deleteCampaign(trx, row.id);
      });
    },

    /**
     * Live figures, from the aggregates (they answer after retention removed the messages).
     * recipients: messages made for list members; skipped_suppressed: members not sent to because of
     * their status or the suppression list at dispatch (dropped: at send time, or by a cancel).
     */
    async stats(principal: Principal, id: string) {
      const row = await own(db, principal, id);
      const counts = await repo.campaignCounts(db, row);
      return {
        campaign_id: row.id,
        status: row.status,
        recipients: counts.messages,
        pending: counts.pending,
        sent: counts.sent,
        delivered: counts.delivered,
        bounced: counts.bounced,
        complained: counts.complained,
        opened: counts.opened,
        clicked: counts.clicked,
        unsubscribed: counts.unsubscribed,
        skipped_suppressed: row.skipped_suppressed,
        dropped: counts.dropped,
        failed: counts.failed,
        dispatch_complete: row.dispatch_done,
      };
    },
  };
}
