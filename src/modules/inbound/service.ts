import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import { getReport, listReports } from './repo.ts';
import type { InboundStatus } from './tables.ts';

export type InboundService = ReturnType<typeof createInboundService>;

type Row = Awaited<ReturnType<typeof listReports>>['rows'][number];

function toView(row: Row) {
  return {
    ...row,
    received_at: new Date(row.received_at).toISOString(),
    processed_at: row.processed_at ? new Date(row.processed_at).toISOString() : null,
    rcpt_to: row.rcpt_to.split(',').filter(Boolean),
    result: (typeof row.result === 'string' ? JSON.parse(row.result) : row.result) as Record<string, unknown> | null,
  };
}

/** The operator's view of inbound mail (admin): what could not be matched or processed stays visible. */
export function createInboundService(deps: { db: Kysely<DB> }) {
  return {
    async list(filter: { status?: InboundStatus; limit: number; offset: number }) {
      const { rows, total } = await listReports(deps.db, filter);
      return { data: rows.map(toView), total };
    },
    async get(id: string) {
      const row = await getReport(deps.db, id);
      if (!row) throw notFound('inbound report');
      const { raw, ...rest } = row;
      return { ...toView(rest), raw: Buffer.from(raw).toString('latin1') };
    },
  };
}
