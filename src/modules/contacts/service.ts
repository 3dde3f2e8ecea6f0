import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Engine } from '../../db/database.ts';
import type { DB } from '../../db/schema.ts';
import { DomainError, invalid, notFound } from '../../errors.ts';
import type { Principal } from '../keys/service.ts';
import { engagementOf, noSends, type Engagement, type EngagementSource } from './engagement.ts';
import { openStaging } from './import-repo.ts';
import type { SourceRow } from './import-sources.ts';
import { runImport, type ImportResult } from './import.ts';
import * as repo from './repo.ts';
import { checkContactInput, csvLine, csvSafeCell } from './rules.ts';
import { markContactStatus } from '../addresses/standing.ts';
import type { ContactStatus } from './tables.ts';

export interface ContactView {
  id: number;
  email: string;
  name: string | null;
  metadata: Record<string, unknown>;
  status: ContactStatus;
  key_id: string;
  created_at: string;
  updated_at: string;
}

export function contactView(row: repo.ContactRow): ContactView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    metadata: row.metadata,
    status: row.status,
    key_id: row.key_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface ContactPatch {
  name?: string | null;
  status?: ContactStatus;
  metadata?: Record<string, unknown>;
}

/** Most addresses in one import-preview or bulk delete. */
export const MAX_EMAILS_PER_REQUEST = 100_000;
const EXPORT_PAGE = 1_000;

export interface ContactsDeps {
  db: Kysely<DB>;
  engine: Engine;
  /** PostgreSQL's pool, for COPY; absent on PGlite. */
  pool?: pg.Pool | undefined;
  engagement?: EngagementSource;
  now?: () => Date;
}

export function createContactsService(deps: ContactsDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const engagementSource = deps.engagement ?? noSends;

  async function mustFind(keyId: string, email: string): Promise<repo.ContactRow> {
    const row = await repo.findContact(db, keyId, email);
    if (!row) throw notFound('contact', 'email');
    return row;
  }

  function checkEmails(emails: string[]): void {
    if (emails.length > MAX_EMAILS_PER_REQUEST) {
      throw new DomainError('too_large', 'too_many_emails', `at most ${MAX_EMAILS_PER_REQUEST} addresses per request`, 'emails');
    }
  }

  return {
    async list(keyId: string | null, filter: { status?: ContactStatus | undefined; q?: string | undefined; limit: number; offset: number }) {
      const { rows, total } = await repo.listContacts(db, { keyId, ...filter });
      return { data: rows.map(contactView), total };
    },

    /** The whole (filtered) contact list as CSV, read page by page so memory stays flat; one chunk per page. */
    exportCsv(keyId: string | null, filter: { status?: ContactStatus | undefined; q?: string | undefined }): Readable {
      async function* pages() {
        yield csvLine(['id', 'email', 'name', 'status', 'metadata', 'key_id', 'created_at', 'updated_at']);
        let after = 0;
        for (;;) {
          const rows = await repo.csvContactsAfter(db, { keyId, ...filter }, after, EXPORT_PAGE);
          let chunk = '';
          for (const r of rows) {
            chunk += csvLine([r.id, csvSafeCell(r.email), csvSafeCell(r.name ?? ''), r.status, r.metadata, r.key_id, r.created_at, r.updated_at]);
          }
          if (chunk) yield chunk;
          if (rows.length < EXPORT_PAGE) return;
          after = rows[rows.length - 1]!.id;
        }
      }
      return Readable.from(pages(), { objectMode: false });
    },

    async upsert(principal: Principal, body: unknown): Promise<{ contact: ContactView; created: boolean }> {
      const checked = checkContactInput(body);
      if (checked.problem) throw invalid(checked.problem.code, checked.problem.message, checked.problem.field);
      const { row, created } = await repo.upsertContact(db, principal.keyId, checked.input);
      return { contact: contactView(row), created };
    },

    async get(principal: Principal, email: string): Promise<ContactView> {
      return contactView(await mustFind(principal.keyId, email));
    },

    async patch(principal: Principal, email: string, patch: ContactPatch): Promise<ContactView> {
      const check = checkContactInput({ email: 'x@example.com', name: patch.name, metadata: patch.metadata });
      if (check.problem) throw invalid(check.problem.code, check.problem.message, check.problem.field);
      return db.transaction().execute(async (trx) => {
        const contact = await repo.findContact(trx, principal.keyId, email);
        if (!contact) throw notFound('contact', 'email');
        let row: repo.ContactRow | undefined = contact;
        if (patch.name !== undefined || patch.metadata !== undefined) {
          const metadata = patch.metadata ? Object.fromEntries(Object.entries(patch.metadata).filter(([, v]) => v !== null)) : undefined;
          const removeKeys = patch.metadata ? Object.entries(patch.metadata).filter(([, v]) => v === null).map(([k]) => k) : [];
          row = await repo.updateContactFields(trx, contact.id, { name: patch.name, metadata, removeKeys });
        }
        if (patch.status !== undefined) row = await markContactStatus(trx, principal.keyId, contact.email, patch.status, { type: 'api' });
        return contactView(row!);
      });
    },

    async remove(principal: Principal, email: string): Promise<void> {
      const deleted = await repo.deleteContactsByEmails(db, principal.keyId, [email]);
      if (!deleted.length) throw notFound('contact', 'email');
    },

    async engagement(principal: Principal, email: string): Promise<Engagement> {
      const contact = await mustFind(principal.keyId, email);
      return engagementOf(contact, await engagementSource(db, contact), now());
    },

    async importRows(principal: Principal, rows: AsyncIterable<SourceRow>): Promise<ImportResult> {
      return runImport(principal.keyId, rows, await openStaging(db, deps.engine, deps.pool));
    },

    /** Which of the given addresses the key already has; changes nothing. */
    async preview(principal: Principal, emails: string[]) {
      checkEmails(emails);
      const unique = new Map<string, string>();
      for (const e of emails) if (!unique.has(e.toLowerCase())) unique.set(e.toLowerCase(), e);
      const existing = new Set<string>();
      const list = [...unique.keys()];
      for (let i = 0; i < list.length; i += 10_000) {
        for (const row of await repo.findContactsByEmails(db, principal.keyId, list.slice(i, i + 10_000))) existing.add(row.email.toLowerCase());
      }
      return {
        existing: [...unique].filter(([lower]) => existing.has(lower)).map(([, given]) => given),
        total_unique: unique.size,
        total_received: emails.length,
      };
    },

    /**
     * Deletes the given addresses in one transaction: all found are deleted or none. An address
     * another key holds is reported as not_found like any unknown one (never revealed), so
     * `forbidden` stays empty for every key; it is kept for the seed's shape.
     */
    async bulkDelete(principal: Principal, emails: string[]) {
      checkEmails(emails);
      const deleted = await db.transaction().execute((trx) => repo.deleteContactsByEmails(trx, principal.keyId, emails));
      const gone = new Set(deleted.map((d) => d.email.toLowerCase()));
      const seen = new Set<string>();
      const notFoundEmails: string[] = [];
      for (const e of emails) {
        const lower = e.toLowerCase();
        if (seen.has(lower)) continue;
        seen.add(lower);
        if (!gone.has(lower)) notFoundEmails.push(e);
      }
      return { requested: emails.length, deleted: deleted.length, not_found: notFoundEmails, forbidden: [] as string[] };
    },
  };
}

export type ContactsService = ReturnType<typeof createContactsService>;
