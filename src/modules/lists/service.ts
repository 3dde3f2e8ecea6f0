import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { invalid, notFound } from '../../errors.ts';
import { slugId } from '../../lib/ids.ts';
import { findContact, upsertContact } from '../contacts/repo.ts';
import { checkContactInput } from '../contacts/rules.ts';
import { contactView } from '../contacts/service.ts';
import type { ContactStatus } from '../contacts/tables.ts';
import type { Principal } from '../keys/service.ts';
import * as repo from './repo.ts';

export interface MemberCounts {
  total: number;
  active: number;
  unsubscribed: number;
  bounced: number;
  complained: number;
}

export interface ListView {
  id: string;
  name: string;
  description: string | null;
  key_id: string;
  member_counts: MemberCounts;
  created_at: string;
  updated_at: string;
}

export interface AddMembersResult {
  added: number;
  already_member: number;
  contacts_created: number;
  failed: number;
  errors: { index: number; email: string | null; code: string; message: string }[];
}

/** Most entries in one add-members request (larger sets go through the contacts import first). */
export const MAX_MEMBERS_PER_REQUEST = 10_000;

export function createListsService(deps: { db: Kysely<DB> }) {
  const { db } = deps;

  async function views(rows: repo.ListRow[]): Promise<ListView[]> {
    const counts = await repo.memberCounts(db, rows.map((r) => r.id));
    return rows.map((row) => {
      const member_counts: MemberCounts = { total: 0, active: 0, unsubscribed: 0, bounced: 0, complained: 0 };
      for (const c of counts) {
        if (c.list_id !== row.id) continue;
        member_counts[c.status] += c.n;
        member_counts.total += c.n;
      }
      return {
        id: row.id,
        name: row.name,
        description: row.description,
        key_id: row.key_id,
        member_counts,
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
      };
    });
  }

  async function mustFind(keyId: string, id: string): Promise<repo.ListRow> {
    const row = await repo.findList(db, keyId, id);
    if (!row) throw notFound('list', 'id');
    return row;
  }

  async function one(row: repo.ListRow): Promise<ListView> {
    return (await views([row]))[0]!;
  }

  return {
    async create(principal: Principal, input: { name: string; description?: string | null }): Promise<ListView> {
      if (!input.name.trim()) throw invalid('required', 'name is required', 'name');
      return one(await repo.insertList(db, { id: slugId(input.name), key_id: principal.keyId, name: input.name.trim(), description: input.description ?? null }));
    },

    async list(keyId: string | null, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listLists(db, { keyId, ...page });
      return { data: await views(rows), total };
    },

    async get(principal: Principal, id: string): Promise<ListView> {
      return one(await mustFind(principal.keyId, id));
    },

    async update(principal: Principal, id: string, patch: { name?: string; description?: string | null }): Promise<ListView> {
      if (patch.name !== undefined && !patch.name.trim()) throw invalid('required', 'name cannot be empty', 'name');
      const row = await repo.updateList(db, principal.keyId, id, { ...patch, ...(patch.name !== undefined ? { name: patch.name.trim() } : {}) });
      if (!row) throw notFound('list', 'id');
      return one(row);
    },

    async remove(principal: Principal, id: string): Promise<void> {
      if (!(await repo.deleteList(db, principal.keyId, id))) throw notFound('list', 'id');
    },

    async members(principal: Principal, id: string, filter: { status?: ContactStatus | undefined; limit: number; offset: number }) {
      await mustFind(principal.keyId, id);
      const { rows, total } = await repo.listMembers(db, { listId: id, ...filter });
      return { data: rows.map(contactView), total };
    },

    /**
     * Adds members given as addresses or as contact objects; every entry is upserted as a contact
     * first (an address alone creates a bare contact, never changes an existing one's status).
     * All valid entries are added in one transaction; invalid ones are reported by index.
     */
    async addMembers(principal: Principal, id: string, entries: unknown[]): Promise<AddMembersResult> {
      await mustFind(principal.keyId, id);
      const result: AddMembersResult = { added: 0, already_member: 0, contacts_created: 0, failed: 0, errors: [] };
      const seen = new Set<string>();
      const valid: { index: number; input: NonNullable<ReturnType<typeof checkContactInput>['input']> }[] = [];
      entries.forEach((entry, index) => {
        const checked = checkContactInput(typeof entry === 'string' ? { email: entry } : entry);
        const email = typeof entry === 'string' ? entry : typeof (entry as { email?: unknown })?.email === 'string' ? ((entry as { email: string }).email) : null;
        if (checked.problem) {
          result.failed++;
          result.errors.push({ index, email, code: checked.problem.code, message: checked.problem.message });
        } else if (seen.has(checked.input.email.toLowerCase())) {
          result.failed++;
          result.errors.push({ index, email, code: 'duplicate', message: 'the address appears earlier in the same request' });
        } else {
          seen.add(checked.input.email.toLowerCase());
          valid.push({ index, input: checked.input });
        }
      });
      await db.transaction().execute(async (trx) => {
        const ids: number[] = [];
        for (const { input } of valid) {
          const { row, created } = await upsertContact(trx, principal.keyId, input);
          if (created) result.contacts_created++;
          ids.push(row.id);
        }
        for (let i = 0; i < ids.length; i += 1000) {
          result.added += (await repo.addMembers(trx, id, ids.slice(i, i + 1000))).length;
        }
        result.already_member = ids.length - result.added;
      });
      return result;
    },

    async removeMember(principal: Principal, id: string, email: string): Promise<void> {
      await mustFind(principal.keyId, id);
      const contact = await findContact(db, principal.keyId, email);
      if (!contact || !(await repo.removeMember(db, id, contact.id))) throw notFound('list member', 'email');
    },
  };
}

export type ListsService = ReturnType<typeof createListsService>;
