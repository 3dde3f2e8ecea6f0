import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { invalid, notFound } from '../../errors.ts';
import { slugId } from '../../lib/ids.ts';
import { findContact } from '../contacts/repo.ts';
import type { Principal } from '../keys/service.ts';
import { compileParts, recipientVariables, renderParts, type RenderedParts } from './render.ts';
import * as repo from './repo.ts';

export interface TemplateView {
  id: string;
  name: string;
  subject: string;
  html: string | null;
  body_text: string | null;
  key_id: string;
  created_at: string;
  updated_at: string;
}

function view(row: repo.TemplateRow): TemplateView {
  return {
    id: row.id,
    name: row.name,
    subject: row.subject,
    html: row.html,
    body_text: row.body_text,
    key_id: row.key_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export interface TemplateInput {
  name: string;
  subject: string;
  html?: string | null;
  body_text?: string | null;
}

/** What a preview renders with when the caller gives no unsubscribe_url. */
export const PREVIEW_UNSUBSCRIBE_URL = '#unsubscribe';

export function createTemplatesService(deps: { db: Kysely<DB> }) {
  const { db } = deps;

  async function mustFind(keyId: string, id: string): Promise<repo.TemplateRow> {
    const row = await repo.findTemplate(db, keyId, id);
    if (!row) throw notFound('template', 'id');
    return row;
  }

  return {
    async create(principal: Principal, input: TemplateInput): Promise<TemplateView> {
      if (!input.name.trim()) throw invalid('required', 'name is required', 'name');
      const parts = { subject: input.subject, html: input.html ?? null, body_text: input.body_text ?? null };
      compileParts(parts);
      return view(await repo.insertTemplate(db, { id: slugId(input.name), key_id: principal.keyId, name: input.name.trim(), ...parts }));
    },

    async list(keyId: string | null, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listTemplates(db, { keyId, ...page });
      return { data: rows.map(view), total };
    },

    async get(principal: Principal, id: string): Promise<TemplateView> {
      return view(await mustFind(principal.keyId, id));
    },

    async update(principal: Principal, id: string, patch: Partial<TemplateInput>): Promise<TemplateView> {
      if (patch.name !== undefined && !patch.name.trim()) throw invalid('required', 'name cannot be empty', 'name');
      const current = await mustFind(principal.keyId, id);
      const merged = {
        subject: patch.subject ?? current.subject,
        html: patch.html === undefined ? current.html : patch.html,
        body_text: patch.body_text === undefined ? current.body_text : patch.body_text,
      };
      compileParts(merged);
      const fields = { ...merged, ...(patch.name !== undefined ? { name: patch.name.trim() } : {}) };
      const row = await repo.updateTemplate(db, principal.keyId, id, fields);
      if (!row) throw notFound('template', 'id');
      return view(row);
    },

    async remove(principal: Principal, id: string): Promise<void> {
      if (!(await repo.deleteTemplate(db, principal.keyId, id))) throw notFound('template', 'id');
    },

    /** Renders subject, html and text for the given variables, or for one of the key's contacts. */
    async render(principal: Principal, id: string, input: { variables?: Record<string, unknown>; email?: string; unsubscribe_url?: string }): Promise<RenderedParts> {
      const template = await mustFind(principal.keyId, id);
      let contact = null;
      if (input.email !== undefined) {
        contact = await findContact(db, principal.keyId, input.email);
        if (!contact) throw invalid('unknown_contact', 'no contact with that email', 'email');
      }
      const compiled = compileParts(template);
      const variables = input.variables ?? {};
      const unsubscribeUrl = input.unsubscribe_url ?? (typeof variables.unsubscribe_url === 'string' ? variables.unsubscribe_url : PREVIEW_UNSUBSCRIBE_URL);
      return renderParts(compiled, recipientVariables(contact, variables, unsubscribeUrl));
    },
  };
}

export type TemplatesService = ReturnType<typeof createTemplatesService>;
