import type { Kysely } from 'kysely';
import type { ErasedAddressHasher } from '../suppressions/erased.ts';
import type { DB } from '../../db/schema.ts';
import { conflict, DomainError, forbidden, invalid, notFound, type ErrorDetail } from '../../errors.ts';
import { newId, slugId } from '../../lib/ids.ts';
import { compileTemplate } from '../../lib/liquid.ts';
import type { Principal } from '../keys/service.ts';
import * as repo from './repo.ts';
import { createSubscribersService } from './subscribers.ts';
import type { SequenceStatus, SubscriberStatus } from './tables.ts';

export interface SequencesServiceDeps {
  db: Kysely<DB>;
  isFromAllowed(keyId: string, fromAddress: string): Promise<boolean>;
  now?: () => Date;
  /** A subscribed address that was erased is still suppressed (its hashed entry). */
  erased?: ErasedAddressHasher;
}

export type SubscriberCounts = Record<'total' | SubscriberStatus, number>;

export interface SequenceView {
  id: string;
  key_id: string;
  name: string;
  status: SequenceStatus;
  subscriber_counts: SubscriberCounts;
  created_at: string;
  updated_at: string;
}

export interface StepView {
  id: string;
  sequence_id: string;
  position: number;
  offset_seconds: number;
  subject: string | null;
  html: string | null;
  body_text: string | null;
  from_email: string | null;
  from_name: string | null;
  reply_to: string | null;
  template_id: string | null;
  tracking: boolean;
  created_at: string;
  updated_at: string;
}

/** The optional fields of a step (POST and PATCH); null clears one on PATCH. */
export interface StepFields {
  subject?: string | null;
  html?: string | null;
  body_text?: string | null;
  from_email?: string | null;
  from_name?: string | null;
  reply_to?: string | null;
  template_id?: string | null;
  tracking?: boolean;
}

const OPTIONAL_FIELDS = ['subject', 'html', 'body_text', 'from_email', 'from_name', 'reply_to', 'template_id'] as const;
const iso = (d: Date | string) => new Date(d).toISOString();
const present = (value: string | null | undefined): value is string => typeof value === 'string' && value.trim() !== '';

export function stepView(row: repo.StepRow): StepView {
  return {
    id: row.id,
    sequence_id: row.sequence_id,
    position: row.position,
    offset_seconds: row.offset_seconds,
    subject: row.subject,
    html: row.html,
    body_text: row.body_text,
    from_email: row.from_email,
    from_name: row.from_name,
    reply_to: row.reply_to,
    template_id: row.template_id,
    tracking: row.tracking,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/**
 * A step's content is subject with html and/or body_text, or a template_id (400 naming the missing
 * fields otherwise); every Liquid part given must parse (400 naming the field and the line).
 */
export function checkStepContent(step: Pick<repo.StepRow, 'subject' | 'html' | 'body_text' | 'template_id'>): void {
  if (!present(step.template_id)) {
    const message = 'a step needs subject with html or body_text, or a template_id';
    const missing: ErrorDetail[] = [];
    if (!present(step.subject)) missing.push({ field: 'subject', code: 'missing_content', message });
    if (!present(step.html) && !present(step.body_text)) missing.push({ field: 'html', code: 'missing_content', message }, { field: 'body_text', code: 'missing_content', message });
    if (missing.length) throw DomainError.invalid([...missing, { field: 'template_id', code: 'missing_content', message }]);
  }
  for (const field of ['subject', 'html', 'body_text'] as const) {
    const source = step[field];
    if (present(source)) compileTemplate(source, field);
  }
}

export type SequencesService = ReturnType<typeof createSequencesService>;

export function createSequencesService(deps: SequencesServiceDeps) {
  const { db } = deps;
  const clock = deps.now ?? (() => new Date());

  async function own(trx: Kysely<DB>, principal: Principal, id: string, lock?: 'update' | 'share'): Promise<repo.SequenceRow> {
    const row = await repo.findSequence(trx, principal.keyId, id, lock);
    if (!row) throw notFound('sequence');
    return row;
  }

  /** Asked before any transaction opens: the domains service reads through its own handle (one connection on PGlite). */
  async function checkFrom(keyId: string, fromEmail: string | null | undefined): Promise<void> {
    if (!present(fromEmail)) return;
    if (!(await deps.isFromAllowed(keyId, fromEmail))) {
      throw forbidden('from_not_allowed', `${fromEmail} is not on a verified sending domain of this key`, 'from_email');
    }
  }

  async function checkTemplate(trx: Kysely<DB>, keyId: string, templateId: string | null): Promise<void> {
    if (present(templateId) && (await repo.templateSubject(trx, keyId, templateId)) === undefined) {
      throw invalid('template_not_found', `template ${templateId} does not exist`, 'template_id');
    }
  }

  function requireFromWhenActive(sequence: repo.SequenceRow, fromEmail: string | null): void {
    if (sequence.status === 'active' && !present(fromEmail)) {
      throw invalid('from_required', 'a step of an active sequence needs a from_email', 'from_email');
    }
  }

  async function views(rows: repo.SequenceRow[]): Promise<SequenceView[]> {
    const counts = await repo.subscriberCounts(db, rows.map((r) => r.id));
    return rows.map((row) => {
      const subscriber_counts: SubscriberCounts = { total: 0, active: 0, paused: 0, completed: 0, cancelled: 0 };
      for (const c of counts) {
        if (c.sequence_id !== row.id) continue;
        subscriber_counts[c.status] += c.n;
        subscriber_counts.total += c.n;
      }
      return { id: row.id, key_id: row.key_id, name: row.name, status: row.status, subscriber_counts, created_at: iso(row.created_at), updated_at: iso(row.updated_at) };
    });
  }

  async function detail(row: repo.SequenceRow): Promise<SequenceView & { steps: StepView[] }> {
    const [view] = await views([row]);
    return { ...view!, steps: (await repo.listSteps(db, row.id)).map(stepView) };
  }

  return {
    async create(principal: Principal, input: { name: string }) {
      const name = input.name.trim();
      if (!name) throw invalid('required', 'name is required', 'name');
      return detail(await repo.insertSequence(db, { id: slugId(name), key_id: principal.keyId, name }));
    },

    async list(scopeKeyId: string | null, filter: { status?: SequenceStatus | undefined; limit: number; offset: number }) {
      const { rows, total } = await repo.listSequences(db, { keyId: scopeKeyId, ...filter });
      return { data: await views(rows), total };
    },

    async get(principal: Principal, id: string) {
      return detail(await own(db, principal, id));
    },

    /**
     * Renames, or moves between draft, active and archived (any order). Becoming active needs every
     * step to have a from_email (409 step_without_from) on a domain the key may still send from (403).
     */
    async update(principal: Principal, id: string, input: { name?: string; status?: SequenceStatus }) {
      if (input.name !== undefined && !input.name.trim()) throw invalid('required', 'name cannot be empty', 'name');
      const current = await own(db, principal, id);
      const activating = input.status === 'active' && current.status !== 'active';
      const stepsWithoutFrom = (steps: repo.StepRow[]) => {
        const without = steps.filter((s) => !present(s.from_email)).map((s) => s.position);
        if (without.length) throw conflict('step_without_from', `every step needs a from_email before the sequence can be active; missing on position ${without.join(', ')}`, 'status');
      };
      if (activating) {
        const steps = await repo.listSteps(db, current.id);
        stepsWithoutFrom(steps);
        for (const from of new Set(steps.map((s) => s.from_email!))) await checkFrom(principal.keyId, from);
      }
      const row = await db.transaction().execute(async (trx) => {
        await own(trx, principal, id, 'update');
        // Again under the lock: no step can have been added meanwhile without the check.
        if (activating) stepsWithoutFrom(await repo.listSteps(trx, id));
        return repo.updateSequence(trx, id, { ...(input.name !== undefined ? { name: input.name.trim() } : {}), ...(input.status ? { status: input.status } : {}) }, clock());
      });
      return detail(row);
    },

    /** 409 while the sequence has active or paused subscribers; completed and cancelled ones go with it. */
    async remove(principal: Principal, id: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await own(trx, principal, id, 'update');
        if (await repo.hasLiveSubscribers(trx, row.id)) {
          throw conflict('sequence_has_subscribers', 'the sequence has active or paused subscribers: cancel them first', null);
        }
        await repo.deleteSequence(trx, row.id);
      });
    },

    async addStep(principal: Principal, sequenceId: string, input: StepFields & { position: number; offset_seconds: number }): Promise<StepView> {
      await own(db, principal, sequenceId);
      await checkFrom(principal.keyId, input.from_email);
      const step: repo.NewStep = {
        id: newId('step'),
        sequence_id: sequenceId,
        key_id: principal.keyId,
        position: input.position,
        offset_seconds: input.offset_seconds,
        ...Object.fromEntries(OPTIONAL_FIELDS.map((f) => [f, present(input[f]) ? input[f] : null])),
        tracking: input.tracking ?? true,
      } as repo.NewStep;
      checkStepContent(step);
      const row = await db.transaction().execute(async (trx) => {
        const sequence = await own(trx, principal, sequenceId, 'update');
        requireFromWhenActive(sequence, step.from_email);
        await checkTemplate(trx, principal.keyId, step.template_id);
        const inserted = await repo.insertStep(trx, step);
        if (!inserted) throw conflict('position_taken', `the sequence already has a step at position ${step.position}`, 'position');
        await repo.rescheduleSubscribers(trx, sequenceId, clock());
        return inserted;
      });
      return stepView(row);
    },

    /** Edits content, sender or offset; the position is fixed. Reaches only the sends still to come. */
    async updateStep(principal: Principal, sequenceId: string, stepId: string, input: StepFields & { offset_seconds?: number }): Promise<StepView> {
      await own(db, principal, sequenceId);
      if (!(await repo.findStep(db, sequenceId, stepId))) throw notFound('step', 'step_id');
      await checkFrom(principal.keyId, input.from_email);
      const row = await db.transaction().execute(async (trx) => {
        const sequence = await own(trx, principal, sequenceId, 'update');
        const current = await repo.findStep(trx, sequenceId, stepId);
        if (!current) throw notFound('step', 'step_id');
        const changes: repo.StepChanges = {};
        for (const field of OPTIONAL_FIELDS) if (input[field] !== undefined) changes[field] = present(input[field]) ? input[field] : null;
        if (input.offset_seconds !== undefined) changes.offset_seconds = input.offset_seconds;
        if (input.tracking !== undefined) changes.tracking = input.tracking;
        const merged = { ...current, ...changes };
        checkStepContent(merged);
        requireFromWhenActive(sequence, merged.from_email);
        if (changes.template_id) await checkTemplate(trx, principal.keyId, changes.template_id);
        const updated = await repo.updateStep(trx, stepId, changes, clock());
        if (changes.offset_seconds !== undefined && changes.offset_seconds !== current.offset_seconds) await repo.rescheduleSubscribers(trx, sequenceId, clock());
        return updated;
      });
      return stepView(row);
    },

    /** Subscribers waiting for it move on to the following step, timed from the same base. */
    async removeStep(principal: Principal, sequenceId: string, stepId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await own(trx, principal, sequenceId, 'update');
        if (!(await repo.findStep(trx, sequenceId, stepId))) throw notFound('step', 'step_id');
        await repo.deleteStep(trx, stepId);
        await repo.rescheduleSubscribers(trx, sequenceId, clock());
      });
    },

    ...createSubscribersService({ db, now: clock, own, erased: deps.erased }),
  };
}
