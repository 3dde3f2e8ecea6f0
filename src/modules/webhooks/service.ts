import type { Kysely, Updateable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { conflict, invalid, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import type { SealedBox } from '../../lib/sealed-box.ts';
import { UrlRefused, type OutboundGuard } from '../../lib/ssrf.ts';
import { EVENT_TYPE_NAMES } from '../events/catalog.ts';
import { recordAudit } from '../audit/repo.ts';
import type { Principal } from '../keys/service.ts';
import * as repo from './repo.ts';
import { newWebhookSecret } from './signing.ts';
import type { DeliveryStatus, WebhooksTable } from './tables.ts';

export interface WebhooksServiceDeps {
  db: Kysely<DB>;
  guard: OutboundGuard;
  secrets: SealedBox;
  /** Called after deliveries were made due, so an idle worker in this process looks at once. */
  onDue?: () => void;
  now?: () => Date;
}

/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export interface WebhookView {
  id: string;
  key_id: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

function toView(row: repo.WebhookRow, now: Date): WebhookView {
  const overlap = row.previous_secret_until && new Date(row.previous_secret_until) > now ? row.previous_secret_until : null;
  return {
    id: row.id,
    key_id: row.key_id,
    url: row.url,
    description: row.description,
    events: row.events,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: iso(row.disabled_at),
    failing_since: iso(row.failing_since),
    previous_secret_expires_at: iso(overlap),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
  };
}

function deliveryView(row: repo.DeliveryRow) {
  return {
    id: `whd_${row.id}`,
    webhook_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    last_status: row.last_status,
    last_error: row.last_error,
    last_body: row.last_body,
    // Never attempted (null): due since it was made.
    next_attempt_at: row.status === 'pending' ? iso(row.next_attempt_at ?? row.created_at) : null,
    last_attempt_at: iso(row.last_attempt_at),
    delivered_at: iso(row.delivered_at),
    created_at: iso(row.created_at)!,
  };
}

export interface WebhookFields {
  url?: string;
  description?: string | null;
  events?: string[];
  enabled?: boolean;
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;

export function createWebhooksService(deps: WebhooksServiceDeps) {
  const { db } = deps;
  const clock = deps.now ?? (() => new Date());

  async function own(principal: Principal, id: string): Promise<repo.WebhookRow> {
    const row = await repo.findWebhook(db, principal.keyId, id);
    if (!row) throw notFound('webhook');
    return row;
  }

  /** SSRF check of a URL: the refusal is a 400 with the guard's own code. */
  async function checkUrl(url: string): Promise<void> {
    try {
      await deps.guard.check(url);
    } catch (error) {
      if (error instanceof UrlRefused) throw invalid(error.code, error.message, 'url');
      throw error;
    }
  }

  /** Known types, `*`, or a family such as `message.*`; duplicates collapse. */
  function checkEvents(events: string[]): string[] {
    const families = new Set(EVENT_TYPE_NAMES.map((t) => `${t.split('.')[0]}.*`));
    events.forEach((type, i) => {
      if (type !== '*' && !families.has(type) && !(EVENT_TYPE_NAMES as string[]).includes(type)) {
        throw invalid('invalid_event_type', `unknown event type "${type}"`, `events.${i}`);
      }
    });
    const unique = [...new Set(events)];
    return unique.length && !unique.includes('*') ? unique : ['*'];
  }

  const audit = (trx: Kysely<DB>, principal: Principal, action: string, id: string, summary: Record<string, unknown>) =>
    recordAudit(trx, { keyId: principal.keyId, action, objectType: 'webhook', objectId: id, summary }, clock());

  return {
    async create(principal: Principal, input: WebhookFields & { url: string }): Promise<WebhookView & { secret: string }> {
      await checkUrl(input.url);
      const secret = newWebhookSecret();
      const sealed = await deps.secrets.seal(secret);
      const row = await db.transaction().execute(async (trx) => {
        const inserted = await repo.insertWebhook(trx, {
          id: newId('wh'),
          key_id: principal.keyId,
          url: input.url,
          description: input.description ?? null,
          events: checkEvents(input.events ?? ['*']),
          enabled: input.enabled ?? true,
          secret_sealed: sealed,
        });
        await audit(trx, principal, 'webhook.created', inserted.id, { url: inserted.url, events: inserted.events, enabled: inserted.enabled });
        return inserted;
      });
      return { ...toView(row, clock()), secret };
    },

    async get(principal: Principal, id: string): Promise<WebhookView> {
      return toView(await own(principal, id), clock());
    },

    async list(scopeKeyId: string | null, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listWebhooks(db, { keyId: scopeKeyId, ...page });
      const now = clock();
      return { data: rows.map((r) => toView(r, now)), total };
    },

    /** Re-enabling clears why it was disabled and makes its pending deliveries due at once. */
    async update(principal: Principal, id: string, input: WebhookFields): Promise<WebhookView> {
      const current = await own(principal, id);
      if (input.url !== undefined) await checkUrl(input.url);
      const changes: Updateable<WebhooksTable> = {};
      if (input.url !== undefined) changes.url = input.url;
      if (input.description !== undefined) changes.description = input.description;
      if (input.events !== undefined) changes.events = checkEvents(input.events);
      if (input.enabled !== undefined) changes.enabled = input.enabled;
      const now = clock();
      const resuming = input.enabled === true && !current.enabled;
      if (resuming) Object.assign(changes, { disabled_reason: null, disabled_at: null, failing_since: null });
      if (input.enabled === false && current.enabled) Object.assign(changes, { disabled_reason: 'disabled through the API', disabled_at: now });
      const row = await db.transaction().execute(async (trx) => {
        const updated = await repo.updateWebhook(trx, current.id, changes, now);
        if (resuming) await repo.resumePending(trx, current.id, now);
        await audit(trx, principal, 'webhook.updated', current.id, { changed: Object.keys(changes), url: updated.url, events: updated.events, enabled: updated.enabled });
        return updated;
      });
      if (resuming) deps.onDue?.();
      return toView(row, now);
    },

    async remove(principal: Principal, id: string): Promise<void> {
      const current = await own(principal, id);
      await db.transaction().execute(async (trx) => {
        await repo.deleteWebhook(trx, current.id);
        await audit(trx, principal, 'webhook.deleted', current.id, { url: current.url });
      });
    },

    /** A new secret, shown once; the previous one keeps signing beside it for 24 hours. */
    async rotateSecret(principal: Principal, id: string): Promise<WebhookView & { secret: string }> {
      const current = await own(principal, id);
      const secret = newWebhookSecret();
      const now = clock();
      const sealed = await deps.secrets.seal(secret);
      const previousUntil = new Date(now.getTime() + ROTATION_OVERLAP_MS);
      const row = await db.transaction().execute(async (trx) => {
        const updated = await repo.updateWebhook(trx, current.id, { secret_sealed: sealed, previous_secret_sealed: current.secret_sealed, previous_secret_until: previousUntil }, now);
        await audit(trx, principal, 'webhook.secret_rotated', current.id, { previous_secret_until: previousUntil.toISOString() });
        return updated;
      });
      return { ...toView(row, now), secret };
    },

    async sendTest(principal: Principal, id: string): Promise<{ event_id: string; delivery_id: string }> {
      const endpoint = await own(principal, id);
      if (!endpoint.enabled) throw conflict('webhook_disabled', `the webhook is disabled (${endpoint.disabled_reason ?? 'by request'}); enable it first`);
      const eventId = newId('evt', 32);
      const data = { webhook_id: endpoint.id, key_id: endpoint.key_id, message: 'This is a test event from MailerDash.' };
      const delivery = await repo.insertTestDelivery(db, { endpointId: endpoint.id, keyId: endpoint.key_id, eventId, data, now: clock() });
      deps.onDue?.();
      return { event_id: eventId, delivery_id: `whd_${delivery}` };
    },

    async deliveries(principal: Principal, id: string, filter: { status?: DeliveryStatus; event_type?: string; limit: number; offset: number }) {
      const endpoint = await own(principal, id);
      const { rows, total } = await repo.listDeliveries(db, { endpointId: endpoint.id, status: filter.status, eventType: filter.event_type, limit: filter.limit, offset: filter.offset });
      return { data: rows.map(deliveryView), total };
    },

    async retry(principal: Principal, id: string, deliveryId: string) {
      const endpoint = await own(principal, id);
      const delivery = await repo.findDelivery(db, endpoint.id, deliveryId);
      if (!delivery) throw notFound('delivery');
      await repo.retryDelivery(db, String(delivery.id), clock());
      deps.onDue?.();
      return deliveryView((await repo.findDelivery(db, endpoint.id, deliveryId))!);
    },
  };
}
