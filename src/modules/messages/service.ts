import { domainToASCII } from 'node:url';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import type { Principal } from '../keys/service.ts';
import * as repo from './repo.ts';
import type { Channel, MessageStatus } from './tables.ts';

export interface MessageEventView {
  type: string;
  at: string;
  data: Record<string, unknown>;
}

export interface MessageView {
  id: string;
  key_id: string;
  request_id: string | null;
  status: MessageStatus;
  channel: Channel;
  to: string;
  to_name: string | null;
  from: string;
  from_name: string | null;
  subject: string;
  attempts: number;
  last_response: string | null;
  /** The named provider the last attempt went to, and the id it gave the message once it accepted it. */
  provider: string | null;
  provider_message_id: string | null;
  created_at: string;
  due_at: string;
  sent_at: string | null;
  events: MessageEventView[];
}

type Row = NonNullable<Awaited<ReturnType<typeof repo.findMessage>>>;
type EventRow = Awaited<ReturnType<typeof repo.eventsOf>>[number];

function toView(row: Row, events: EventRow[]): MessageView {
  const personalization = row.personalization as { subject?: string };
  return {
    id: row.id,
    key_id: row.key_id,
    request_id: row.request_id,
    status: row.status,
    channel: row.channel,
    to: row.to_email,
    to_name: row.to_name,
    from: row.from_email,
    from_name: row.from_name,
    subject: personalization.subject ?? row.subject,
    attempts: row.attempts,
    last_response: row.last_response,
    provider: row.provider,
    provider_message_id: row.provider_message_id,
    created_at: row.created_at.toISOString(),
    due_at: row.due_at.toISOString(),
    sent_at: row.sent_at ? row.sent_at.toISOString() : null,
    events: timeline(row, events),
  };
}

/**
 * The stored events with the two every message's row already records: queued (created_at) and
 * sent (sent_at, with the accepting reply), in time order. The pipeline stores neither as a row.
 */
function timeline(row: Row, events: EventRow[]): MessageEventView[] {
  const out: MessageEventView[] = [{ type: 'queued', at: row.created_at.toISOString(), data: {} }];
  let sentPending = row.sent_at !== null;
  for (const e of events) {
    if (sentPending && e.at > row.sent_at!) {
      out.push(sentEvent(row));
      sentPending = false;
    }
    out.push({ type: e.type, at: e.at.toISOString(), data: e.data });
  }
  if (sentPending) out.push(sentEvent(row));
  return out;
}

function sentEvent(row: Row): MessageEventView {
  return { type: 'sent', at: row.sent_at!.toISOString(), data: { response: row.last_response } };
}

/** Recipients are stored with an ASCII (punycode) domain; a filter may name the domain in Unicode. */
function envelopeForm(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  return `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1)) || address.slice(at + 1)}`;
}

export type MessagesService = ReturnType<typeof createMessagesService>;

/** The message log: every recipient's copy with its status and event timeline. */
export function createMessagesService(deps: { db: Kysely<DB> }) {
  const { db } = deps;

  async function withEvents(rows: Row[]): Promise<MessageView[]> {
    const events = await repo.eventsOf(db, rows.map((r) => r.id));
    const byMessage = new Map<string, EventRow[]>();
    for (const e of events) {
      const list = byMessage.get(e.message_id);
      if (list) list.push(e);
      else byMessage.set(e.message_id, [e]);
    }
    return rows.map((r) => toView(r, byMessage.get(r.id) ?? []));
  }

  return {
    async list(filter: repo.MessageFilter, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listMessages(db, filter.to ? { ...filter, to: envelopeForm(filter.to) } : filter, page);
      return { data: await withEvents(rows), total };
    },

    /** A key sees its own messages; an admin key any. Anything else is a 404. */
    async get(principal: Principal, id: string): Promise<MessageView> {
      const row = await repo.findMessage(db, principal.admin ? null : principal.keyId, id);
      if (!row) throw notFound('message', 'id');
      const [view] = await withEvents([row]);
      return view!;
    },
  };
}
