import { randomBytes } from 'node:crypto';
import type { ErasedAddressHasher } from '../suppressions/erased.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { DomainError, conflict, forbidden, invalid, notFound } from '../../errors.ts';
import { isDisposableDomain } from '../../lib/disposable-domains.ts';
import { checkAddress } from '../../lib/email-address.ts';
import { newId } from '../../lib/ids.ts';
import { compileTemplate } from '../../lib/liquid.ts';
import type { MxChecker } from '../../lib/mx-checker.ts';
import { insertContent } from '../campaigns/dispatch-repo.ts';
import type { IdempotencyClaim, IdempotencyService, StoredResponse } from '../idempotency/service.ts';
import type { Principal } from '../keys/service.ts';
import { recordAudit } from '../audit/repo.ts';
import { readBatchBody } from './body-stream.ts';
import { streamProgress } from './event-stream.ts';
import { exportStream } from './export.ts';
import * as progress from './progress-repo.ts';
import { releaseRest } from './release-repo.ts';
import * as repo from './repo.ts';
import { storedCounts } from './rules.ts';
import { MAX_LISTED_REJECTIONS, type BatchHeaderT, type BatchViewT } from './schemas.ts';
import type { CanaryPlan, ProviderPolicy } from './tables.ts';

export interface BatchesServiceDeps {
  db: Kysely<DB>;
  mx: MxChecker;
  idempotency: IdempotencyService;
  domains: { isFromAllowed(keyId: string, fromAddress: string): Promise<boolean> };
  templates?: { get(principal: Principal, id: string): Promise<{ subject: string; html: string | null; body_text: string | null }> };
  /** The names of the providers a key's batches may name: the operator's and the key's own (another is a 400). */
  providerNames: (keyId: string) => readonly string[] | Promise<readonly string[]>;
  onQueued?: () => void;
  now?: () => Date;
  /** Recipients whose address was erased stay suppressed through their hashed entry. */
  erased?: ErasedAddressHasher;
}

export type BatchesService = ReturnType<typeof createBatchesService>;

const MAX_SCHEDULE_AHEAD_MS = 72 * 3600_000;

/** Syntax and disposable domain, per recipient, while the body streams (the same first two layers as /v1/mail/send). */
function addressVerdict(email: string): { email: string; domain: string | null; rejection: string | null } {
  const check = checkAddress(email);
  if (!check.ok) return { email: email.slice(0, 320), domain: null, rejection: 'invalid_syntax' };
  if (isDisposableDomain(check.value.domain)) return { email: check.value.address, domain: null, rejection: 'disposable_domain' };
  return { email: check.value.address, domain: check.value.domain, rejection: null };
}

function checkPolicy(policy: BatchHeaderT['provider_policy'], known: readonly string[]): ProviderPolicy | null {
  if (!policy) return null;
  for (const [i, name] of policy.providers.entries()) {
    if (!known.includes(name)) throw invalid('unknown_provider', `provider ${name} is not configured (known: ${known.join(', ')})`, `provider_policy.providers.${i}`);
  }
  if (policy.weights && policy.weights.length !== policy.providers.length) {
    throw invalid('invalid_field', 'provider_policy.weights needs one weight per provider', 'provider_policy.weights');
  }
  if (policy.strategy === 'weighted' && !policy.weights) throw invalid('invalid_field', 'the weighted strategy needs weights', 'provider_policy.weights');
  return policy;
}

export function batchView(row: repo.BatchRow, counts: Record<string, number>): BatchViewT {
  return {
    id: row.id,
    key_id: row.key_id,
    status: row.status as BatchViewT['status'],
    outcome: row.outcome,
    channel: row.channel,
    idempotency_key: row.idempotency_key,
    provider_policy: row.policy,
    canary: row.canary,
    hold: row.hold,
    counts: { submitted: row.submitted, accepted: row.accepted, rejected: row.rejected, ...counts },
    send_at: row.send_at ? new Date(row.send_at).toISOString() : null,
    created_at: new Date(row.created_at).toISOString(),
    completed_at: row.completed_at ? new Date(row.completed_at).toISOString() : null,
  };
}

export function createBatchesService(deps: BatchesServiceDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  async function contentOf(principal: Principal, header: BatchHeaderT): Promise<{ subject: string; html: string | null; text: string | null }> {
    let parts = { subject: header.subject ?? null, html: null as string | null, text: null as string | null };
    if (header.template_id) {
      if (!deps.templates) throw invalid('unsupported_field', 'template_id is not supported here', 'template_id');
      try {
        const t = await deps.templates.get(principal, header.template_id);
        parts = { subject: header.subject ?? t.subject, html: t.html, text: t.body_text };
      } catch (error) {
        if (error instanceof DomainError && error.kind === 'not_found') throw invalid('template_not_found', `template ${header.template_id} does not exist for this API key`, 'template_id');
        throw error;
      }
    } else if (header.content) {
      for (const c of header.content) {
        if (c.type === 'text/html') parts.html = c.value;
        else if (c.type === 'text/plain') parts.text = c.value;
        else throw invalid('invalid_field', `content type ${c.type} is not text/plain or text/html`, 'content');
      }
    } else {
      throw invalid('missing_content', 'content or template_id is required', 'content');
    }
    if (!parts.subject) throw invalid('missing_subject', 'subject is required (or a template with one)', 'subject');
    for (const [field, source] of Object.entries(parts)) {
      try {
        if (source) compileTemplate(source, field);
      } catch (error) {
        throw invalid('invalid_template', `${field}: ${(error as Error).message}`, field === 'subject' ? 'subject' : 'content');
      }
    }
    return { subject: parts.subject, html: parts.html, text: parts.text };
  }

  async function view(row: repo.BatchRow): Promise<BatchViewT> {
    return batchView(row, storedCounts(row.progress_counts, row.accepted));
  }

  async function owned(principal: Principal, id: string, forUpdate = false, within: Kysely<DB> = db): Promise<repo.BatchRow> {
    const row = await repo.findBatch(within, principal.admin ? null : principal.keyId, id, forUpdate);
    if (!row) throw notFound('batch', 'id');
    return row;
  }

  return {
    /**
     * Streams the body into staging rows (each recipient checked for syntax and disposable domain
     * as it arrives), then checks MX per distinct domain, and accepts in one transaction: the rest
     * of the pre-check, the messages, the Idempotency-Key's response. Until that commits the batch
     * is invisible and nothing of it can be sent; on any failure its staged rows are deleted.
     */
    async submit(principal: Principal, body: Readable, idemKey: string | null): Promise<StoredResponse> {
      const id = newId('batch');
      const started = now();
      await repo.insertReceivingBatch(db, { id, keyId: principal.keyId, now: started });
      const domains = new Set<string>();
      let claim: IdempotencyClaim | null = null;
      // One staging write in flight while the next chunk is parsed: at most two chunks held.
      let staging: Promise<void> = Promise.resolve();
      try {
        const streamed = await readBatchBody(body, async (chunk, first) => {
          const rows = chunk.map((r, i) => {
            const verdict = addressVerdict(r.email);
            if (verdict.domain) domains.add(verdict.domain);
            return { seq: first + i, email: verdict.email, name: r.name ?? null, variables: r.variables ?? null, idempotency_key: r.idempotency_key ?? null, rejection: verdict.rejection };
          });
          await staging;
          staging = repo.stageRecipients(db, id, rows);
          staging.catch(() => {});
        });
        await staging;
        const { header } = streamed;
        const policy = checkPolicy(header.provider_policy, await deps.providerNames(principal.keyId));
        const content = await contentOf(principal, header);
        const fromCheck = checkAddress(header.from.email);
        if (!fromCheck.ok) throw invalid('invalid_email', `from.email ${fromCheck.reason}`, 'from.email');
        if (!(await deps.domains.isFromAllowed(principal.keyId, fromCheck.value.address))) {
          throw forbidden('from_domain_not_verified', `${fromCheck.value.domain} is not a verified sending domain of this API key`, 'from.email');
        }
        const at = now();
        let dueAt = at;
        if (header.send_at !== undefined) {
          const sendAt = new Date(header.send_at * 1000);
          if (sendAt.getTime() - at.getTime() > MAX_SCHEDULE_AHEAD_MS) throw invalid('invalid_send_at', 'send_at is at most 72 hours ahead', 'send_at');
          if (sendAt > at) dueAt = sendAt;
        }
        // Third layer: each distinct domain once, concurrently; a DNS failure is no verdict.
        const verdicts = await deps.mx.checkAll(domains);
        const undeliverable = [...verdicts].filter(([, v]) => v.kind === 'undeliverable').map(([d]) => d);
        await repo.rejectDomains(db, id, undeliverable, 'no_mx');

        if (idemKey !== null) {
          const begun = await deps.idempotency.begin(principal.keyId, idemKey, 'batches.create', { sha256: streamed.sha256 });
          if (begun.kind === 'replay') {
            await repo.discardReceiving(db, id);
            return { ...begun.response, headers: { ...begun.response.headers, 'idempotent-replayed': 'true' } };
          }
          claim = begun.claim;
        }
        const canary: CanaryPlan | null = header.canary
          ? { ...header.canary, hold: header.canary.hold ?? false, seed: randomBytes(8).toString('hex'), size: Math.max(1, Math.ceil((streamed.recipients * header.canary.percent) / 100)) }
          : null;
        const erasedKeys = deps.erased ? await deps.erased.keysFor(principal.keyId) : undefined;
        const response = await db.transaction().execute(async (trx) => {
          const contentId = newId('mc');
          await insertContent(trx, {
            id: contentId,
            key_id: principal.keyId,
            from_email: fromCheck.value.address,
            from_name: header.from.name ?? null,
            reply_to: header.reply_to?.email ?? null,
            subject: content.subject,
            html: content.html,
            text: content.text,
            settings: { liquid: true, list_unsubscribe: header.channel !== 'trans' },
            categories: [],
          });
          if (header.headers) await trx.updateTable('message_contents').set({ headers: JSON.stringify(header.headers) }).where('id', '=', contentId).execute();
          const result = await repo.acceptStaged(trx, {
            batchId: id,
            keyId: principal.keyId,
            channel: header.channel,
            contentId,
            policy,
            canary: canary ? { ...canary, size: Math.min(canary.size, streamed.recipients) } : null,
            idempotencyKey: idemKey,
            customArgs: header.custom_args ?? {},
            dueAt,
            now: at,
            submitted: streamed.recipients,
            erased: erasedKeys,
          });
          await progress.recordChange(trx, id, at);
          await recordAudit(
            trx,
            {
              keyId: principal.keyId,
              action: 'batch.created',
              objectType: 'batch',
              objectId: id,
              summary: { submitted: streamed.recipients, accepted: result.accepted, rejected: result.rejected, provider_policy: policy, canary, idempotency_key: idemKey, channel: header.channel },
            },
            at,
          );
          const row = (await repo.findBatch(trx, principal.keyId, id))!;
          const body = {
            ...batchView(row, storedCounts(row.progress_counts, row.accepted)),
            rejections: await repo.rejections(trx, id, MAX_LISTED_REJECTIONS),
            rejections_truncated: result.rejected > MAX_LISTED_REJECTIONS,
            rejected_by_reason: await repo.rejectionsByReason(trx, id),
          };
          const stored: StoredResponse = { status: 202, headers: { location: `/v1/batches/${id}` }, body };
          if (claim) await claim.complete(stored, trx);
          return stored;
        });
        deps.onQueued?.();
        return response;
      } catch (error) {
        await staging.catch(() => {});
        await repo.discardReceiving(db, id).catch(() => {});
        await claim?.release().catch(() => {});
        throw error;
      }
    },

    async get(principal: Principal, id: string): Promise<BatchViewT> {
      return view(await owned(principal, id));
    },

    /** scope: the key to list (null: every key, for an admin; see readScope). */
    async list(scope: string | null, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listBatches(db, scope, page.limit, page.offset);
      return { data: await Promise.all(rows.map(view)), total, limit: page.limit, offset: page.offset };
    },

    /** Drops every message not yet handed to a provider; what was sent stays sent. */
    async cancel(principal: Principal, id: string): Promise<BatchViewT> {
      const at = now();
      await db.transaction().execute(async (trx) => {
        const row = await owned(principal, id, true, trx);
        if (row.status === 'completed' || row.status === 'cancelled') throw conflict('batch_finished', `the batch is already ${row.status}`, 'id');
        await releaseRest(trx, id, at);
        await progress.dropUnsent(trx, id, 'batch cancelled', at);
        await repo.setStatus(trx, id, 'cancelled', at, { completed: true });
        await progress.recordChange(trx, id, at);
        await recordAudit(trx, { keyId: principal.keyId, action: 'batch.cancelled', objectType: 'batch', objectId: id, summary: { previous_status: row.status } }, at);
      });
      return view(await owned(principal, id));
    },

    /** Releases the rest of a batch held after its canary. */
    async approve(principal: Principal, id: string): Promise<BatchViewT> {
      const at = now();
      await db.transaction().execute(async (trx) => {
        const row = await owned(principal, id, true, trx);
        if (row.status !== 'awaiting_approval') throw conflict('not_awaiting_approval', `the batch is ${row.status}, not awaiting_approval`, 'id');
        await progress.releaseHeld(trx, id, at);
        await repo.setStatus(trx, id, 'sending', at, { hold: null });
        await progress.recordChange(trx, id, at);
        await recordAudit(trx, { keyId: principal.keyId, action: 'batch.approved', objectType: 'batch', objectId: id, summary: { hold: row.hold } }, at);
      });
      deps.onQueued?.();
      return view(await owned(principal, id));
    },

    /** Queues the finally failed recipients again: never a bounced, dropped (suppressed) or sent one. */
    async retryFailed(principal: Principal, id: string): Promise<BatchViewT & { retried: number }> {
      const at = now();
      const retried = await db.transaction().execute(async (trx) => {
        const row = await owned(principal, id, true, trx);
        if (row.status !== 'completed') throw conflict('batch_not_completed', `the batch is ${row.status}; retry-failed needs a completed batch`, 'id');
        const n = await progress.requeueFailed(trx, id, at);
        if (n === 0) throw conflict('nothing_to_retry', 'the batch has no failed recipients', 'id');
        await trx.updateTable('batches').set({ status: 'sending', outcome: null, completed_at: null, updated_at: at }).where('id', '=', id).execute();
        await progress.recordChange(trx, id, at);
        return n;
      });
      deps.onQueued?.();
      return { ...(await view(await owned(principal, id))), retried };
    },

    async decisions(principal: Principal, id: string) {
      await owned(principal, id);
      const rows = await db.selectFrom('batch_decisions').selectAll().where('batch_id', '=', id).orderBy('id').execute();
      return {
        data: rows.map((r) => ({ provider: r.provider, reason: r.reason, detail: r.detail, count: r.count, first_at: new Date(r.first_at).toISOString(), last_at: new Date(r.last_at).toISOString() })),
      };
    },

    /** The batch if the principal may see it (for the export and the event stream). */
    owned: (principal: Principal, id: string) => owned(principal, id),
    exportStream: (batchId: string, format: 'csv' | 'ndjson') => exportStream(db, batchId, format),
    streamProgress: (batchId: string, afterSeq: number, res: ServerResponse, req: IncomingMessage) => streamProgress(db, batchId, afterSeq, res, req),
  };
}
