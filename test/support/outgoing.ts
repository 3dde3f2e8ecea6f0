// Writes message_contents and messages rows directly, as the accept side and campaigns do, for delivery tests.
import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { newId } from '../../src/lib/ids.ts';

export interface TestContent {
  keyId: string;
  from_email?: string;
  from_name?: string | null;
  reply_to?: { email: string; name?: string } | null;
  subject?: string;
  html?: string | null;
  text?: string | null;
  headers?: Record<string, string>;
  attachments?: unknown[];
  settings?: Record<string, unknown>;
}

export interface TestRecipient {
  email: string;
  name?: string;
  channel?: 'trans' | 'bulk';
  personalization?: Record<string, unknown>;
  dueAt?: Date;
}

/** Inserts one content and one queued message per recipient; returns the message ids in order. */
export async function queueTestMessages(db: Kysely<DB>, content: TestContent, recipients: TestRecipient[]): Promise<{ contentId: string; ids: string[] }> {
  const contentId = newId('mc');
  await db
    .insertInto('message_contents')
    .values({
      id: contentId,
      key_id: content.keyId,
      from_email: content.from_email ?? 'sender@example.test',
      from_name: content.from_name ?? null,
      reply_to: JSON.stringify(content.reply_to ?? null),
      subject: content.subject ?? 'Hello',
      html: content.html === undefined ? '<p>Hello</p>' : content.html,
      text: content.text === undefined ? null : content.text,
      headers: JSON.stringify(content.headers ?? {}),
      attachments: JSON.stringify(content.attachments ?? []),
      settings: JSON.stringify(content.settings ?? {}),
    })
    .execute();
  const ids = recipients.map(() => newId('msg'));
  if (recipients.length) {
    await db
      .insertInto('messages')
      .values(
        recipients.map((r, i) => ({
          id: ids[i]!,
          key_id: content.keyId,
          content_id: contentId,
          channel: r.channel ?? 'trans',
          lane: (r.channel ?? 'trans') === 'trans' ? 0 : 1,
          status: 'queued' as const,
          to_email: r.email,
          to_name: r.name ?? null,
          personalization: JSON.stringify(r.personalization ?? {}),
          due_at: r.dueAt ?? new Date(Date.now() - 1000),
        })),
      )
      .execute();
  }
  return { contentId, ids };
}
