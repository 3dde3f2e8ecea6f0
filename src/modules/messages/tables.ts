import type { ColumnType, Generated, JSONColumnType } from 'kysely';

export type Channel = 'trans' | 'bulk';
export type MessageStatus = 'queued' | 'sending' | 'sent' | 'deferred' | 'bounced' | 'failed' | 'dropped';

type Json<T extends object | null> = JSONColumnType<T, string, string>;
type JsonDefault<T> = ColumnType<T, string | undefined, string>;

export interface Address {
  email: string;
  name?: string;
}

export interface MessageContentsTable {
  id: string;
  key_id: string;
  from_email: string;
  from_name: string | null;
  reply_to: Json<Address | null>;
  subject: string;
  html: string | null;
  text: string | null;
  headers: JsonDefault<Record<string, string>>;
  attachments: JsonDefault<unknown[]>;
  categories: JsonDefault<string[]>;
  /** Tracking, sandbox and other per-send settings. */
  settings: JsonDefault<Record<string, unknown>>;
  /** A message submitted over SMTP, as written (its own MIME); null for composed content. */
  raw_mime: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
  /** The Message-ID of a submitted message: a retried submission is recognised by it. */
  submitted_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Generated<Date>;
}

export interface MessagesTable {
  id: string;
  key_id: string;
  content_id: string;
  /** Messages accepted by one API call share it (the X-Message-Id of the 202). */
  request_id: string | null;
  channel: Channel;
  /** Claim order: 0 transactional, 1 bulk. */
  lane: number;
  status: MessageStatus;
  /** The envelope recipient: this message's one address. */
  to_email: string;
  to_name: string | null;
  /** What differs per recipient: visible To/Cc, subject, headers, substitutions, variables, custom args. */
  personalization: JsonDefault<Record<string, unknown>>;
  attempts: Generated<number>;
  due_at: ColumnType<Date, Date | string | undefined, Date | string>;
  lease_until: Date | null;
  last_response: string | null;
  sent_at: Date | null;
  created_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** The provider that took the message (MAILERDASH_PROVIDERS), once an attempt was made. */
  provider: ColumnType<string | null, string | null | undefined, string | null>;
  /** The id the email service provider gave the accepted message (matches its events). */
  provider_message_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The batch the message was made for, if any. */
  batch_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface MessageEventsTable {
  id: Generated<number>;
  message_id: string;
  type: string;
  at: Generated<Date>;
  data: JsonDefault<Record<string, unknown>>;
}

export interface SuppressionsTable {
  key_id: string;
  /** Lower-cased address. */
  email: string;
  reason: 'bounce' | 'complaint' | 'unsubscribe' | 'manual';
  /** message, campaign, sequence, provider, api, contact */
  source_type: string;
  source_id: string | null;
  detail: string | null;
  created_at: Generated<Date>;
}

/** One part of an attachment of a content, as decoded bytes; `seq` keeps the request's order, `part` the bytes'. */
export interface MessageAttachmentsTable {
  content_id: string;
  key_id: string;
  seq: number;
  part: number;
  filename: string;
  type: string | null;
  disposition: 'attachment' | 'inline';
  /** The Content-ID an inline attachment is referred to by. */
  cid: string | null;
  data: Uint8Array;
}

export interface MessagesTables {
  message_contents: MessageContentsTable;
  message_attachments: MessageAttachmentsTable;
  messages: MessagesTable;
  message_events: MessageEventsTable;
  suppressions: SuppressionsTable;
}
