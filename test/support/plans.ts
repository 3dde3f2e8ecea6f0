// Reading PostgreSQL plans in tests: which tables a statement reads, and how.
import { CompiledQuery, sql, type Kysely } from 'kysely';

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan that reads a table (not the ones that write it). */
export function scansOf(node: PlanNode): PlanNode[] {
  const reads = node['Relation Name'] !== undefined && node['Node Type'] !== 'ModifyTable';
  return [...(reads ? [node] : []), ...(node.Plans ?? []).flatMap(scansOf)];
}

function rootOf(value: unknown): PlanNode {
  const plans = (typeof value === 'string' ? JSON.parse(value) : value) as Array<{ Plan: PlanNode }>;
  return plans[0]!.Plan;
}

/** The plan made for this execution, with its parameter values in hand (a custom plan). */
export async function customPlan(trx: Kysely<any>, statement: CompiledQuery): Promise<PlanNode> {
  const { rows } = await trx.executeQuery<{ 'QUERY PLAN': unknown }>(CompiledQuery.raw(`explain (format json) ${statement.sql}`, [...statement.parameters]));
  return rootOf(rows[0]!['QUERY PLAN']);
}

/**
 * The plan a prepared statement keeps once PostgreSQL stops planning each execution: a generic
 * plan, made at the first execution, before `change` (growing a table, say), and reused after it.
 * Run it in a transaction; `args` are SQL expressions.
 */
export async function keptGenericPlan(trx: Kysely<any>, statement: CompiledQuery, args: string[], change: () => Promise<unknown>): Promise<PlanNode> {
  await sql.raw(`prepare md_plan_under_test as ${statement.sql}`).execute(trx);
  try {
    await sql`set local plan_cache_mode = force_generic_plan`.execute(trx);
    const explain = sql.raw<{ 'QUERY PLAN': unknown }>(`explain (format json) execute md_plan_under_test(${args.join(', ')})`);
    await explain.execute(trx);
    await change();
    return rootOf((await explain.execute(trx)).rows[0]!['QUERY PLAN']);
  } finally {
    await sql`deallocate md_plan_under_test`.execute(trx);
  }
}
