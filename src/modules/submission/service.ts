import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { createWriteCoalescer } from '../../db/write-coalescer.ts';
import { decodeEncodedWords } from '../../delivery/raw-mime.ts';
import { newId } from '../../lib/ids.ts';
import type { ParsedAddress } from '../../lib/email-address.ts';
import type { MxChecker } from '../../lib/mx-checker.ts';
import type { Principal } from '../keys/service.ts';
import type { AcceptedRows } from '../send/repo.ts';
import * as repo from './repo.ts';
import { mxReply, planSubmission, recipientSyntax, type Reply } from './rules.ts';

export interface SubmissionServiceDeps {
  db: Kysely<DB>;
  keys: { authenticateNow(secret: string): Promise<Principal | null> };
  domains: { isFromAllowed(keyId: string, fromAddress: string): Promise<boolean> };
  mx: MxChecker;
  /** Most messages (one per recipient) a key may submit per minute; 0: no limit. */
  ratePerMinute: number;
  /** Failed logins an address may make in a window before AUTH is refused to it. */
  authFailureLimit?: number;
  authFailureWindowMs?: number;
  onQueued?: () => void;
  now?: () => Date;
}

export type SubmissionService = ReturnType<typeof createSubmissionService>;

const RATE_WINDOW_MS = 60_000;
const ALLOWED_FROM_MS = 5_000;

class KeyRevokedError extends Error {
  constructor() {
    super('the API key was revoked');
  }
}
const AUTH_FAILURE_LIMIT = 10;
const AUTH_FAILURE_WINDOW_MS = 15 * 60_000;
/** A 250 reply line stays well inside RFC 5321's 512 characters. */
const REPLY_IDS_CHARS = 400;

const windowOf = (at: Date, ms: number) => new Date(Math.floor(at.getTime() / ms) * ms);

/** The 250 to DATA naming the messages, shortened to the first ids and a count when there are many. */
export function queuedReply(messageIds: string[], requestId: string | null): Reply {
  let listed = '';
  let shown = 0;
  for (const id of messageIds) {
    if (listed.length + id.length + 1 > REPLY_IDS_CHARS) break;
    listed += (listed ? ' ' : '') + id;
    shown++;
  }
  const more = shown < messageIds.length ? ` and ${messageIds.length - shown} more` : '';
  return { code: 250, text: `2.0.0 queued as ${listed}${more}${requestId ? ` (request ${requestId})` : ''}` };
}

/**
 * The submission relay's decisions, one per SMTP step. Everything it must share with other listeners
 * (keys, counters, messages) is in the database; nothing a second listener needs lives in memory.
 */
export function createSubmissionService(deps: SubmissionServiceDeps) {
  const { db, mx } = deps;
  const now = deps.now ?? (() => new Date());
  const failureLimit = deps.authFailureLimit ?? AUTH_FAILURE_LIMIT;
  const failureWindowMs = deps.authFailureWindowMs ?? AUTH_FAILURE_WINDOW_MS;

  // A revoked key is refused at once: its messages' commit checks the key in the same transaction (one
  // query per group), so nothing is queued for a key revoked a moment before, by any process.
  const coalescer = createWriteCoalescer<DB, AcceptedRows>({
    db,
    maxInFlight: 1,
    async write(trx, items) {
      const active = await repo.activeKeys(trx, [...new Set(items.map((i) => i.content.key_id))]);
      if (items.some((i) => !active.has(i.content.key_id))) throw new KeyRevokedError();
      await repo.insertSubmitted(trx, items);
    },
    afterCommit: () => deps.onQueued?.(),
  });

  // Like the send service: a granted sender domain is trusted for a few seconds, so a message needs no query for it.
  const allowedFrom = new Map<string, number>();
  async function isFromAllowed(keyId: string, from: ParsedAddress): Promise<boolean> {
    const cacheKey = `${keyId} ${from.domain}`;
    if ((allowedFrom.get(cacheKey) ?? 0) > Date.now()) return true;
    const allowed = await deps.domains.isFromAllowed(keyId, from.address);
    if (allowed) {
      if (allowedFrom.size > 10_000) allowedFrom.clear();
      allowedFrom.set(cacheKey, Date.now() + ALLOWED_FROM_MS);
    }
    return allowed;
  }

  return {
    /** AUTH: user `apikey`, the API key as password (SendGrid's convention), looked up in the database every time. */
    async authenticate(username: string, password: string, remoteAddress: string): Promise<{ ok: true; principal: Principal } | { ok: false; reply: Reply }> {
      const bucket = `auth-failures:${remoteAddress}`;
      const window = windowOf(now(), failureWindowMs);
      if ((await repo.readCounter(db, bucket, window)) >= failureLimit) {
        return { ok: false, reply: { code: 421, text: '4.7.0 too many failed logins from your address; try again later' } };
      }
      const principal = username === 'apikey' ? await deps.keys.authenticateNow(password) : null;
      if (principal) return { ok: true, principal };
      await repo.addToCounter(db, bucket, window, 1);
      const why = username === 'apikey' ? 'the API key is not valid or was revoked' : 'the user name must be "apikey", the password an API key';
      return { ok: false, reply: { code: 535, text: `5.7.8 authentication failed: ${why}` } };
    },

    /** RCPT TO: the three layers of /v1/mail/send (syntax, disposable, MX); DNS trouble is a 451. */
    async recipient(address: string): Promise<{ ok: true; value: ParsedAddress } | { ok: false; reply: Reply }> {
      const checked = recipientSyntax(address);
      if (!checked.ok) return checked;
      const refusal = mxReply(checked.value.domain, await mx.check(checked.value.domain));
      return refusal ? { ok: false, reply: refusal } : checked;
    },

    /**
     * End of DATA: checks the message (From domain, X-SMTPAPI, rate), then commits its content and one
     * message per recipient. The 250 it returns is given only after the commit.
     */
    async accept(principal: Principal, raw: Buffer, envelope: ParsedAddress[]): Promise<Reply> {
      const at = now();
      const planned = planSubmission(raw, envelope, at);
      if (!planned.ok) return planned.reply;
      const { plan } = planned;
      if (!(await isFromAllowed(principal.keyId, plan.fromAddress))) {
        return { code: 550, text: `5.7.1 From domain ${plan.fromAddress.domain} is not a verified sending domain of this API key` };
      }
      const verdicts = await mx.checkAll(plan.unchecked.map((a) => a.domain));
      for (const [domain, verdict] of verdicts) {
        const refusal = mxReply(domain, verdict);
        if (refusal) return { ...refusal, text: `${refusal.text} (X-SMTPAPI to)` };
      }
      if (!plan.copies.length) return { code: 554, text: '5.5.1 no valid recipients' };
      if (deps.ratePerMinute > 0) {
        const count = await repo.addToCounter(db, `rate:${principal.keyId}`, windowOf(at, RATE_WINDOW_MS), plan.copies.length);
        if (count > deps.ratePerMinute) return { code: 451, text: `4.7.1 rate limit of ${deps.ratePerMinute} messages a minute for this API key exceeded; try again later` };
      }

      const requestId = newId('req');
      const contentId = newId('mc');
      const rows: AcceptedRows = {
        content: {
          id: contentId,
          key_id: principal.keyId,
          from_email: plan.fromAddress.address,
          from_name: plan.fromName,
          reply_to: JSON.stringify(null),
          subject: decodeEncodedWords(plan.subject),
          html: null,
          text: null,
          categories: JSON.stringify(plan.categories),
          settings: JSON.stringify(plan.settings),
          raw_mime: plan.stored,
          submitted_id: plan.messageId,
        },
        messages: plan.copies.map((copy) => ({
          id: newId('msg'),
          key_id: principal.keyId,
          content_id: contentId,
          request_id: requestId,
          channel: plan.channel,
          lane: plan.channel === 'trans' ? 0 : 1,
          status: 'queued' as const,
          to_email: copy.recipient.address,
          to_name: copy.name,
          personalization: JSON.stringify(copy.personalization),
          due_at: plan.dueAt,
        })),
      };
      try {
        await coalescer.submit(rows);
      } catch (error) {
        if (error instanceof KeyRevokedError) return { code: 535, text: '5.7.8 the API key of this session was revoked; nothing was queued' };
        // A retry of a message already committed (its 250 was lost): the first commit stands and is named.
        if (plan.messageId && repo.isSubmittedIdConflict(error)) {
          const earlier = await repo.findSubmitted(db, principal.keyId, plan.messageId);
          if (earlier) return queuedReply(earlier.messageIds, earlier.requestId);
        }
        throw error;
      }
      return queuedReply(rows.messages.map((m) => m.id), requestId);
    },

    /** Forgets counters of windows long past. */
    prune: () => repo.pruneCounters(db, new Date(now().getTime() - Math.max(failureWindowMs, RATE_WINDOW_MS) * 2)),

    /** Resolves when every accepted message is committed (shutdown, tests). */
    flushed: () => coalescer.idle(),
  };
}
