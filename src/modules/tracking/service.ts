import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import { engage, unsubscribeMessage } from '../addresses/feedback.ts';
import type { LinkSigner } from './links.ts';
import * as repo from './repo.ts';

export interface TrackingServiceDeps {
  db: Kysely<DB>;
  links: LinkSigner;
  now?: () => Date;
}

export type TrackingService = ReturnType<typeof createTrackingService>;

/** What the public link routes do. Every forged, altered or stale token is the same 404. */
export function createTrackingService(deps: TrackingServiceDeps) {
  const { db, links } = deps;
  const clock = deps.now ?? (() => new Date());

  async function messageOf(purpose: 'unsubscribe' | 'open' | 'click', token: string, target?: string): Promise<repo.TrackedMessage> {
    const messageId = await links.verify(purpose, token, target);
    const message = messageId ? await repo.findTrackedMessage(db, messageId) : undefined;
    if (!message) throw notFound('link');
    return message;
  }

  return {
    /** For the confirmation page: who would be unsubscribed, and whether they already are. */
    async unsubscribePreview(token: string) {
      const message = await messageOf('unsubscribe', token);
      return { email: message.to_email, sender: message.from_name ?? message.from_email, done: await repo.hasEvent(db, message.id, 'unsubscribed') };
    },

    /**
     * One-click (RFC 8058) or the confirmation form: suppresses the address (reason unsubscribe,
     * source the campaign, else the message), moves the contact to unsubscribed, and records the
     * event on the message. Repeating it changes nothing.
     */
    async unsubscribe(token: string, method: 'one-click' | 'form'): Promise<{ email: string }> {
      const message = await messageOf('unsubscribe', token);
      await db.transaction().execute((trx) => unsubscribeMessage(trx, message, method, clock()));
      return { email: message.to_email };
    },

    async open(token: string): Promise<void> {
      const message = await messageOf('open', token);
      await db.transaction().execute((trx) => engage(trx, message.id, 'opened', {}, clock()));
    },

    /** The URL the message linked to; only a target the token was signed for gets through. */
    async click(token: string, target: string): Promise<string> {
      let protocol = '';
      try {
        protocol = new URL(target).protocol;
      } catch {
        throw notFound('link');
      }
      if (protocol !== 'http:' && protocol !== 'https:') throw notFound('link');
      const message = await messageOf('click', token, target);
      await db.transaction().execute((trx) => engage(trx, message.id, 'clicked', { url: target }, clock()));
      return target;
    },
  };
}
