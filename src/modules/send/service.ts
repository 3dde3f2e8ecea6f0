import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { createWriteCoalescer } from '../../db/write-coalescer.ts';
import { DomainError, forbidden, invalid, type ErrorDetail } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import type { MxChecker } from '../../lib/mx-checker.ts';
import type { MxVerdict } from '../../lib/mx-rules.ts';
import type { IdempotencyClaim, StoredResponse } from '../idempotency/service.ts';
import type { Principal } from '../keys/service.ts';
import type { Channel } from '../messages/tables.ts';
import { planSend, type PlannedCopy, type SendPlan, type TemplateParts } from './rules.ts';
import { attachmentParts, hasAttachments, insertAccepted, type AcceptedRows } from './repo.ts';
import type { SendBodyT } from './schemas.ts';

export interface SendServiceDeps {
  db: Kysely<DB>;
  domains: { isFromAllowed(keyId: string, fromAddress: string): Promise<boolean> };
  mx: MxChecker;
  /** Stored templates for template_id; a not-found is the caller's 400. */
  templates?: { get(principal: Principal, id: string): Promise<{ subject: string; html: string | null; body_text: string | null }> };
  /** Called after messages are committed, so an in-process worker starts at once. */
  onQueued?: () => void;
  /**
   * Groups the write coalescer may have in flight at once. 1 (the default) measured best on both engines:
   * requests arriving during a write form the next, larger group, which costs less CPU per request on both sides.
   */
  writeConcurrency?: number;
  now?: () => Date;
}

export interface SendOptions {
  channel: Channel;
  /** The Idempotency-Key claim; its response is stored in the transaction that queues the messages. */
  claim: IdempotencyClaim | null;
  /**
   * Attachment contents the HTTP edge decoded while reading the body, by the key the body holds in place of
   * each base64 string (decodeBase64Fields); a content not among them is decoded here.
   */
  decoded?: ReadonlyMap<string, readonly Buffer[]>;
}

export type SendResult = { kind: 'accepted'; requestId: string; messageIds: string[]; response: StoredResponse } | { kind: 'sandbox'; response: StoredResponse };

interface Pending {
  rows: AcceptedRows;
  claim: IdempotencyClaim | null;
  response: StoredResponse;
}

export type SendService = ReturnType<typeof createSendService>;

const MX_PROBLEM: Record<Extract<MxVerdict, { kind: 'undeliverable' }>['reason'], string> = {
  null_mx: 'accepts no mail (null MX, RFC 7505)',
  nxdomain: 'does not exist',
  no_mail_host: 'has no MX and no address record',
};

export function createSendService(deps: SendServiceDeps) {
  const { db, mx } = deps;
  const now = deps.now ?? (() => new Date());
  // Like the API key cache: a granted sender domain is trusted for a few seconds, so sending needs no extra query.
  const allowedFrom = new Map<string, number>();
  const ALLOWED_FROM_MS = 5_000;

  async function isFromAllowed(keyId: string, from: string): Promise<boolean> {
    const cacheKey = `${keyId} ${from.slice(from.lastIndexOf('@') + 1)}`;
    const at = Date.now();
    if ((allowedFrom.get(cacheKey) ?? 0) > at) return true;
    const allowed = await deps.domains.isFromAllowed(keyId, from);
    if (allowed) {
      if (allowedFrom.size > 10_000) allowedFrom.clear();
      allowedFrom.set(cacheKey, at + ALLOWED_FROM_MS);
    }
    return allowed;
  }

  const coalescer = createWriteCoalescer<DB, Pending>({
    db,
    maxInFlight: deps.writeConcurrency ?? 1,
    // Without Idempotency-Key claims or attachments, a group is one statement and needs no transaction.
    needsTransaction: (items) => items.some((i) => i.claim) || hasAttachments(items.map((i) => i.rows)),
    async write(trx, items) {
      for (const item of items) if (item.claim) await item.claim.complete(item.response, trx);
      await insertAccepted(trx, items.map((i) => i.rows));
    },
    afterCommit: () => deps.onQueued?.(),
  });

  /** Third layer: each distinct recipient domain looked up once, concurrently. DNS trouble is no verdict. */
  async function mxErrors(copies: PlannedCopy[]): Promise<ErrorDetail[]> {
    const verdicts = await mx.checkAll(copies.map((c) => c.recipient.domain));
    const errors: ErrorDetail[] = [];
    for (const copy of copies) {
      const verdict = verdicts.get(copy.recipient.domain);
      if (verdict?.kind === 'undeliverable') {
        errors.push({ field: copy.field, code: 'no_mx', message: `${copy.field}: ${copy.recipient.domain} ${MX_PROBLEM[verdict.reason]}` });
      }
    }
    return errors;
  }

  async function templateOf(principal: Principal, id: string): Promise<TemplateParts> {
    if (!deps.templates) throw invalid('unsupported_field', 'template_id is not supported here', 'template_id');
    try {
      const t = await deps.templates.get(principal, id);
      return { subject: t.subject, html: t.html, text: t.body_text };
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'not_found') throw invalid('template_not_found', `template ${id} does not exist for this API key`, 'template_id');
      throw error;
    }
  }

  function rowsOf(principal: Principal, plan: SendPlan, options: SendOptions, requestId: string): AcceptedRows {
    const { channel } = options;
    const contentId = newId('mc');
    return {
      content: {
        id: contentId,
        key_id: principal.keyId,
        from_email: plan.from.address,
        from_name: plan.fromName,
        reply_to: JSON.stringify(plan.replyTo),
        subject: plan.subject,
        html: plan.html,
        text: plan.text,
        headers: JSON.stringify(plan.headers),
        categories: JSON.stringify(plan.categories),
        settings: JSON.stringify(plan.settings),
      },
      messages: plan.copies.map((copy) => ({
        id: newId('msg'),
        key_id: principal.keyId,
        content_id: contentId,
        request_id: requestId,
        channel,
        lane: channel === 'trans' ? 0 : 1,
        status: 'queued' as const,
        to_email: copy.recipient.address,
        to_name: copy.name,
        personalization: JSON.stringify(copy.personalization),
        due_at: copy.dueAt,
      })),
      // Bytes decoded once, in the parts stored: the only copy the database is sent.
      attachments: plan.attachments.map((a, seq) => ({
        content_id: contentId,
        key_id: principal.keyId,
        seq,
        filename: a.filename,
        type: a.type,
        disposition: a.disposition,
        cid: a.content_id,
        parts: options.decoded?.get(a.content) ?? attachmentParts(Buffer.from(a.content, 'base64')),
      })),
    };
  }

  return {
    /**
     * Validates a SendGrid v3 request in full (limits, syntax, disposable domains, sender domain, MX),
     * then commits its content and one queued message per recipient. Any failure rejects the whole
     * request and queues nothing. In sandbox mode the request is validated and nothing is queued.
     */
    async send(principal: Principal, body: SendBodyT, options: SendOptions): Promise<SendResult> {
      const { errors, plan, copies } = planSend(body, now(), body.template_id ? await templateOf(principal, body.template_id) : null);
      // A request already refused still gets the MX verdict of its other addresses, so one answer names every bad field.
      if (!plan) throw DomainError.invalid([...errors, ...(await mxErrors(copies))]);
      if (!(await isFromAllowed(principal.keyId, plan.from.address))) {
        throw forbidden('from_domain_not_verified', `${plan.from.domain} is not a verified sending domain of this API key`, 'from.email');
      }
      const undeliverable = await mxErrors(plan.copies);
      if (undeliverable.length) throw DomainError.invalid(undeliverable);

      if (plan.sandbox) {
        return { kind: 'sandbox', response: { status: 200, headers: {}, body: { message: 'validated', app: principal.keyId, sandbox: true } } };
      }
      const requestId = newId('req');
      const rows = rowsOf(principal, plan, options, requestId);
      const response: StoredResponse = { status: 202, headers: { 'x-message-id': requestId }, body: { message: 'accepted', app: principal.keyId } };
      await coalescer.submit({ rows, claim: options.claim, response });
      return { kind: 'accepted', requestId, messageIds: rows.messages.map((m) => m.id), response };
    },

    /** Resolves when every accepted request is committed (shutdown, tests). */
    flushed: () => coalescer.idle(),
  };
}
