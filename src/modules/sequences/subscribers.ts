import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { conflict, DomainError, invalid, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import { CONTACT_COLUMNS, findContact, upsertContact, type ContactRow } from '../contacts/repo.ts';
import { isValidEmail, MAX_METADATA_CHARS } from '../contacts/rules.ts';
import type { ContactStatus } from '../contacts/tables.ts';
import { emitEvent } from '../events/outbox.ts';
import type { Principal } from '../keys/service.ts';
import { findSuppressions } from '../suppressions/repo.ts';
import type { ErasedAddressHasher } from '../suppressions/erased.ts';
import * as repo from './repo.ts';
import { firstDueAt, resumedDueAt } from './schedule.ts';
import type { CancelReason, SubscriberStatus } from './tables.ts';

export interface SubscriberView {
  id: string;
  sequence_id: string;
  key_id: string;
  contact_id: number;
  email: string;
  status: SubscriberStatus;
  cancel_reason: CancelReason | null;
  variables: Record<string, unknown>;
  started_at: string;
  current_position: number;
  next_due_at: string | null;
  paused_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SentStepView {
  position: number;
  message_id: string;
  status: string;
  sent_at: string | null;
  response: string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function subscriberView(row: repo.SubscriberRow): SubscriberView {
  return {
    id: row.id,
    sequence_id: row.sequence_id,
    key_id: row.key_id,
    contact_id: Number(row.contact_id),
    email: row.email,
    status: row.status,
    cancel_reason: row.cancel_reason,
    variables: typeof row.variables === 'string' ? JSON.parse(row.variables) : row.variables,
    started_at: iso(row.started_at)!,
    current_position: row.current_position,
    next_due_at: iso(row.next_due_at),
    paused_at: iso(row.paused_at),
    completed_at: iso(row.completed_at),
    cancelled_at: iso(row.cancelled_at),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
  };
}

/** The reason a new subscription starts cancelled, or null when it may receive steps. */
export function refusalReason(contactStatus: ContactStatus, suppressed: boolean): CancelReason | null {
  if (contactStatus !== 'active') return contactStatus;
  return suppressed ? 'suppressed' : null;
}

type Own = (trx: Kysely<DB>, principal: Principal, id: string, lock?: 'update' | 'share') => Promise<repo.SequenceRow>;

export function createSubscribersService(deps: { db: Kysely<DB>; now: () => Date; own: Own; erased?: ErasedAddressHasher }) {
  const { db, own } = deps;

  async function mustFind(trx: Kysely<DB>, sequenceId: string, email: string, forUpdate = false): Promise<repo.SubscriberRow> {
    const row = await repo.findSubscriber(trx, sequenceId, email, forUpdate);
    if (!row) throw notFound('subscriber', 'email');
    return row;
  }

  const terminal = (row: repo.SubscriberRow, what: string) =>
    conflict(`subscription_${row.status}`, `the subscription is ${row.status}: ${what} is not possible`, 'email');

  /** Runs `change` on the locked subscription in one transaction; answers its view. */
  async function change(principal: Principal, sequenceId: string, email: string, fn: (trx: Kysely<DB>, row: repo.SubscriberRow, now: Date) => Promise<repo.SubscriberRow>) {
    const row = await db.transaction().execute(async (trx) => {
      await own(trx, principal, sequenceId, 'share');
      return fn(trx, await mustFind(trx, sequenceId, email, true), deps.now());
    });
    return subscriberView(row);
  }

  return {
    async listSubscribers(principal: Principal, sequenceId: string, filter: { status?: SubscriberStatus | undefined; limit: number; offset: number }) {
      const sequence = await own(db, principal, sequenceId);
      const { rows, total } = await repo.listSubscribers(db, { sequenceId: sequence.id, ...filter });
      return { data: rows.map(subscriberView), total };
    },

    /**
     * Subscribes an address. Unknown addresses become contacts (status active). A contact that is
     * bounced, complained or unsubscribed, or an address on the suppression list, gets a subscription
     * created already cancelled (reason bounced, complained, unsubscribed or suppressed): it is
     * answered 201 and never sends. An existing live subscription is answered as it stands (200).
     */
    async subscribe(
      principal: Principal,
      sequenceId: string,
      input: { email: string; started_at?: string; variables?: Record<string, unknown> },
    ): Promise<{ created: boolean; subscriber: SubscriberView }> {
      const email = input.email.trim();
      if (!isValidEmail(email)) throw invalid('invalid_email', 'email is not a valid address', 'email');
      const variables = input.variables ?? {};
      if (JSON.stringify(variables).length > MAX_METADATA_CHARS) throw new DomainError('invalid', 'too_large', `variables must be at most ${MAX_METADATA_CHARS} characters of JSON`, 'variables');
      const now = deps.now();
      const startedAt = input.started_at ? new Date(input.started_at) : now;
      const erasedKeys = deps.erased ? await deps.erased.keysFor(principal.keyId) : undefined;
      const result = await db.transaction().execute(async (trx) => {
        const sequence = await own(trx, principal, sequenceId, 'share');
        if (sequence.status === 'archived') throw conflict('sequence_archived', 'the sequence is archived: make it draft or active to subscribe', null);
        const known = (await findContact(trx, principal.keyId, email)) ?? (await upsertContact(trx, principal.keyId, { email })).row;
        // One subscribe (or status change) of a contact at a time: the existence check below then holds.
        const contact = (await trx.selectFrom('contacts').select(CONTACT_COLUMNS).where('id', '=', known.id).forNoKeyUpdate().executeTakeFirstOrThrow()) as ContactRow;
        const existing = await repo.findSubscriber(trx, sequence.id, email);
        if (existing) {
          if (existing.status === 'active' || existing.status === 'paused') return { created: false, row: existing };
          throw terminal(existing, 'subscribing again');
        }
        const suppressed = (await findSuppressions(trx, principal.keyId, [email], erasedKeys)).length > 0;
        const reason = refusalReason(contact.status, suppressed);
        const steps = await repo.listSteps(trx, sequence.id);
        const row = await repo.insertSubscriber(
          trx,
          {
            id: newId('sub'),
            key_id: principal.keyId,
            sequence_id: sequence.id,
            contact_id: Number(contact.id),
            email: email.toLowerCase(),
            status: reason ? 'cancelled' : 'active',
            cancel_reason: reason,
            variables,
            started_at: startedAt,
            current_position: 0,
            next_due_at: reason ? null : firstDueAt(startedAt, steps),
            paused_at: null,
            cancelled_at: reason ? now : null,
          },
          now,
        );
        if (!row) return { created: false, row: await mustFind(trx, sequence.id, email) };
        const data = repo.subscriberEventData(row);
        if (reason) await emitEvent(trx, { keyId: row.key_id, type: 'sequence.cancelled', data: { ...data, reason } }, now);
        else await emitEvent(trx, { keyId: row.key_id, type: 'sequence.subscribed', data }, now);
        return { created: true, row };
      });
      return { created: result.created, subscriber: subscriberView(result.row) };
    },

    async getSubscriber(principal: Principal, sequenceId: string, email: string): Promise<SubscriberView & { steps_sent: SentStepView[] }> {
      const sequence = await own(db, principal, sequenceId);
      const row = await mustFind(db, sequence.id, email);
      const sent = await repo.sentSteps(db, row.id);
      return {
        ...subscriberView(row),
        steps_sent: sent.map((m) => ({ position: m.sequence_step_position ?? 0, message_id: m.id, status: m.status, sent_at: iso(m.sent_at), response: m.last_response })),
      };
    },

    /** Cancels with reason manual (sequence.cancelled); an already cancelled one is answered as it is. */
    cancelSubscriber(principal: Principal, sequenceId: string, email: string) {
      return change(principal, sequenceId, email, async (trx, row, now) => {
        if (row.status === 'cancelled') return row;
        if (row.status === 'completed') throw terminal(row, 'cancelling');
        return (await repo.cancelSubscription(trx, row.key_id, row.id, 'manual', now))!;
      });
    },

    /** Holds pending steps: next_due_at stays as it is, paused_at is set. Pausing a paused one changes nothing. */
    pauseSubscriber(principal: Principal, sequenceId: string, email: string) {
      return change(principal, sequenceId, email, async (trx, row, now) => {
        if (row.status === 'paused') return row;
        if (row.status !== 'active') throw terminal(row, 'pausing');
        return repo.updateSubscriber(trx, row.id, { status: 'paused', paused_at: now }, now);
      });
    },

    /** Continues with the wait that remained at pause time (schedule.ts resumedDueAt). Resuming an active one changes nothing. */
    resumeSubscriber(principal: Principal, sequenceId: string, email: string) {
      return change(principal, sequenceId, email, async (trx, row, now) => {
        if (row.status === 'active') return row;
        if (row.status !== 'paused') throw terminal(row, 'resuming');
        const nextDueAt = resumedDueAt(row.next_due_at ? new Date(row.next_due_at) : null, row.paused_at ? new Date(row.paused_at) : null, now);
        return repo.updateSubscriber(trx, row.id, { status: 'active', paused_at: null, next_due_at: nextDueAt }, now);
      });
    },
  };
}
