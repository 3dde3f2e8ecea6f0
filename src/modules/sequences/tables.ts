import type { ColumnType, Generated } from 'kysely';

/** draft and archived send nothing; only an active sequence's due steps go out. */
export type SequenceStatus = 'draft' | 'active' | 'archived';
/** active and paused are live (at most one per contact and sequence); completed and cancelled are terminal. */
export type SubscriberStatus = 'active' | 'paused' | 'completed' | 'cancelled';
export type CancelReason = 'unsubscribed' | 'manual' | 'bounced' | 'complained' | 'suppressed';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface SequencesTable {
  /** `slug-6hex` from the name (`onboarding-bienvenida-a1b2c3`). */
  id: string;
  key_id: string;
  name: string;
  status: ColumnType<SequenceStatus, SequenceStatus | undefined, SequenceStatus>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/**
 * One email of a sequence. Its content is `subject` with `html`/`body_text`, or a `template_id`
 * (then each of subject, html and body_text set on the step wins over the template's). Read at send
 * time, so an edit reaches only the sends still to come.
 */
export interface SequenceStepsTable {
  /** `step_…` */
  id: string;
  sequence_id: string;
  key_id: string;
  /** Order within the sequence, unique, > 0; fixed once created (a move is a delete plus an add). */
  position: number;
  /** Wait before sending: step 1 from the subscriber's started_at, step N from when step N-1 was sent. */
  offset_seconds: number;
  subject: string | null;
  html: string | null;
  body_text: string | null;
  /** Required before the sequence can be active (checked at activation and on steps of an active sequence). */
  from_email: string | null;
  from_name: string | null;
  reply_to: string | null;
  template_id: string | null;
  /** Open pixel and click tracking of the step's messages (migration 0502). */
  tracking: ColumnType<boolean, boolean | undefined, boolean>;
  /** The scheduler's message_contents row for the step as it stands (migration 0501); cleared by a step PATCH. */
  content_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The template's updated_at that content_id was made from (null without a template). */
  content_stamp: NullableTimestamp;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/**
 * One subscription of one contact to one sequence, and its progress.
 *
 * - `current_position`: the position of the last step sent (0: none yet). The next step is the one
 *   with the smallest position greater than it, so a step added at or before it is never sent to
 *   this subscriber.
 * - `next_due_at`: when that next step is due. Null while there is nothing to wait for (no next
 *   step) or while the previous step's outcome is awaited (the scheduler sets it from the send time).
 *   Kept as it is while the sequence is draft or archived, and while the subscriber is paused (then
 *   it is the due time as it stood at `paused_at`; resume re-bases it, see schedule.ts).
 *   A sequence_due row mirrors it while the subscriber is active (the scheduler claims through that).
 * - `lease_until`: unused; the scheduler's claim is its row lock, held by the transaction that makes
 *   the step's message and advances the row (see src/workers/sequence-scheduler.ts).
 */
export interface SequenceSubscribersTable {
  /** `sub_…` */
  id: string;
  key_id: string;
  sequence_id: string;
  contact_id: number;
  /** Lower-cased. */
  email: string;
  status: SubscriberStatus;
  /** Set exactly when status is cancelled. */
  cancel_reason: CancelReason | null;
  /** Template variables of this subscription, beside the contact's name, email and metadata. */
  variables: ColumnType<Record<string, unknown>, string | undefined, string>;
  /** Step 1 counts its offset from here (default: the subscription time; may lie in the future). */
  started_at: Timestamp;
  current_position: ColumnType<number, number | undefined, number>;
  next_due_at: NullableTimestamp;
  lease_until: NullableTimestamp;
  paused_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/**
 * The scheduler's due index (migration 1400): one narrow row per active subscriber with a
 * next_due_at, at that time. Claimed (deleted) when the step's message is made, inserted again when
 * the step's outcome times the next one; so a step never rewrites an index entry of the wide row.
 */
export interface SequenceDueTable {
  subscriber_id: string;
  sequence_id: string;
  due_at: Timestamp;
}

export interface SequencesTables {
  sequences: SequencesTable;
  sequence_steps: SequenceStepsTable;
  sequence_subscribers: SequenceSubscribersTable;
  sequence_due: SequenceDueTable;
}

// The scheduler names, on each message it makes, the subscription and the step position (migration 0500).
declare module '../messages/tables.ts' {
  interface MessagesTable {
    sequence_subscriber_id: ColumnType<string | null, string | null | undefined, string | null>;
    sequence_step_position: ColumnType<number | null, number | null | undefined, number | null>;
  }
}
