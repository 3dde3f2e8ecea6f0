import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { DeliveryStatus, WebhookDeliveriesTable, WebhooksTable } from './tables.ts';

/** Every SQL statement of the webhooks API: endpoints, their deliveries, manual retries. */

export type WebhookRow = Selectable<WebhooksTable>;

export async function insertWebhook(db: Kysely<DB>, row: Omit<WebhookRow, 'created_at' | 'updated_at' | 'lease_owner' | 'lease_until' | 'failing_since' | 'disabled_at' | 'disabled_reason' | 'previous_secret_sealed' | 'previous_secret_until'>): Promise<WebhookRow> {
  return db.insertInto('webhooks').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findWebhook(db: Kysely<DB>, keyId: string, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('key_id', '=', keyId).where('id', '=', id).executeTakeFirst();
}

export async function listWebhooks(db: Kysely<DB>, filter: { keyId: string | null; limit: number; offset: number }): Promise<{ rows: WebhookRow[]; total: number }> {
  let query = db.selectFrom('webhooks');
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  const [rows, count] = await Promise.all([
    query.selectAll().orderBy('created_at').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

export function updateWebhook(db: Kysely<DB>, id: string, changes: Updateable<WebhooksTable>, now: Date): Promise<WebhookRow> {
  return db.updateTable('webhooks').set({ ...changes, updated_at: now }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteWebhook(db: Kysely<DB>, id: string): Promise<void> {
  await db.deleteFrom('webhooks').where('id', '=', id).execute();
}

/** A re-enabled endpoint's pending deliveries are due at once rather than at their backed-off times. */
export async function resumePending(db: Kysely<DB>, endpointId: string, now: Date): Promise<void> {
  await db.updateTable('webhook_deliveries').set({ next_attempt_at: now }).where('endpoint_id', '=', endpointId).where('status', '=', 'pending').where('next_attempt_at', '>', now).execute();
}

export type DeliveryRow = Selectable<WebhookDeliveriesTable> & { event_id: string };

const DELIVERY_COLUMNS = [
  'd.id',
  'd.key_id',
  'd.endpoint_id',
  'd.event_seq',
  'd.event_type',
  'd.status',
  'd.attempts',
  'd.next_attempt_at',
  'd.last_attempt_at',
  'd.last_status',
  'd.last_error',
  'd.last_body',
  'd.delivered_at',
  'd.created_at',
  'e.id as event_id',
] as const;

export async function listDeliveries(
  db: Kysely<DB>,
  filter: { endpointId: string; status?: DeliveryStatus; eventType?: string; limit: number; offset: number },
): Promise<{ rows: DeliveryRow[]; total: number }> {
  let query = db.selectFrom('webhook_deliveries as d').innerJoin('events as e', 'e.seq', 'd.event_seq').where('d.endpoint_id', '=', filter.endpointId);
  if (filter.status) query = query.where('d.status', '=', filter.status);
  if (filter.eventType) query = query.where('d.event_type', '=', filter.eventType);
  const [rows, count] = await Promise.all([
    query.select(DELIVERY_COLUMNS).orderBy('d.event_seq', 'desc').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}

/** `whd_<n>` as the API shows it, or null for anything else (a 404, never a database error). */
export function deliveryNumber(publicId: string): string | null {
  const match = /^whd_([1-9][0-9]{0,17})$/.exec(publicId);
  return match ? match[1]! : null;
}

export function findDelivery(db: Kysely<DB>, endpointId: string, publicId: string): Promise<DeliveryRow | undefined> {
  const id = deliveryNumber(publicId);
  if (!id) return Promise.resolve(undefined);
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('events as e', 'e.seq', 'd.event_seq')
    .select(DELIVERY_COLUMNS)
    .where('d.endpoint_id', '=', endpointId)
    .where('d.id', '=', id)
    .executeTakeFirst();
}

/** A manual retry: pending and due now, whatever it was (a delivered event may be sent again on request). */
export async function retryDelivery(db: Kysely<DB>, id: string, now: Date): Promise<void> {
  await db.updateTable('webhook_deliveries').set({ status: 'pending', next_attempt_at: now, delivered_at: null }).where('id', '=', id).execute();
}

/**
 * A webhook.test event for one endpoint, written with its one delivery (fan-out at emit leaves
 * `webhook.test` out), so it goes to this endpoint only, whatever the others subscribe to. Returns
 * the delivery's number.
 */
export async function insertTestDelivery(db: Kysely<DB>, input: { endpointId: string; keyId: string; eventId: string; data: Record<string, unknown>; now: Date }): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    with event as (
      insert into events (id, key_id, type, at, data)
      values (${input.eventId}, ${input.keyId}, 'webhook.test', ${input.now}, ${JSON.stringify(input.data)}::jsonb)
      returning seq
    )
    insert into webhook_deliveries (key_id, endpoint_id, event_seq, event_type, next_attempt_at, created_at)
    select ${input.keyId}, ${input.endpointId}, seq, 'webhook.test', ${input.now}, ${input.now} from event
    returning id`.execute(db);
  return String(rows[0]!.id);
}
