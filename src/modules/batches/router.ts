import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { ClaimedMessage } from '../../delivery/queue-repo.ts';
import type { MessageRouter, RouteChoice } from '../../delivery/routing.ts';
import type { SendResult } from '../../delivery/smtp-outcome.ts';
import { effectivePolicy, hourOf, nextHour, providerDownMs, providerOrder } from './rules.ts';
import type { ProviderPolicy } from './tables.ts';

export { PROVIDER_DOWN_MS } from './rules.ts';
const BATCH_CACHE_MS = 2000;

interface Decision {
  batchId: string;
  provider: string | null;
  reason: string;
  detail: string | null;
  count: number;
}

interface BatchRouting {
  keyId: string;
  status: string;
  policy: ProviderPolicy;
  at: number;
}

/**
 * Grants up to `wanted` of a provider's hourly cap to a key, atomically (the row lock orders
 * concurrent workers), and answers how many were granted.
 */
export async function reserveCap(db: Kysely<DB>, keyId: string, provider: string, hour: Date, wanted: number, cap: number): Promise<number> {
  await sql`insert into provider_hourly_usage (key_id, provider, hour, used) values (${keyId}, ${provider}, ${hour}, 0) on conflict do nothing`.execute(db);
  const { rows } = await sql<{ granted: number }>`
    update provider_hourly_usage u set used = u.used + g.granted
    from (select greatest(0, least(${wanted}::int, ${cap}::int - used)) as granted from provider_hourly_usage
          where key_id = ${keyId} and provider = ${provider} and hour = ${hour} for update) g
    where u.key_id = ${keyId} and u.provider = ${provider} and u.hour = ${hour}
    returning g.granted`.execute(db);
  return Number(rows[0]?.granted ?? 0);
}

/** Appends decisions in order; one identical to the batch's last decision adds to its count instead. */
export async function appendDecisions(db: Kysely<DB>, decisions: Decision[], now: Date): Promise<void> {
  for (const d of decisions) {
    await db.transaction().execute(async (trx) => {
      const last = await trx.selectFrom('batch_decisions').select(['id', 'provider', 'reason', 'detail']).where('batch_id', '=', d.batchId).orderBy('id', 'desc').limit(1).forUpdate().executeTakeFirst();
      if (last && last.provider === d.provider && last.reason === d.reason && last.detail === d.detail) {
        await trx.updateTable('batch_decisions').set((eb) => ({ count: eb('count', '+', d.count), last_at: now })).where('id', '=', last.id).execute();
      } else {
        await trx.insertInto('batch_decisions').values({ batch_id: d.batchId, provider: d.provider, reason: d.reason, detail: d.detail, count: d.count, first_at: now, last_at: now }).execute();
      }
    });
  }
}

/**
 * The router of batch messages: each claimed round, per batch, the providers its policy names
 * (weighted draws, failover order, providers that just failed passed over), each capped per hour
 * in the database; what no provider has room for waits for the next hour. Every choice is logged.
 */
export function createBatchRouter(deps: { db: Kysely<DB>; defaultProvider: string; random?: () => number }): MessageRouter {
  const { db } = deps;
  const random = deps.random ?? Math.random;
  const batches = new Map<string, BatchRouting>();
  // A provider that failed is passed over until `until`; then one message probes it (half-open), and
  // only a probe that does not fail brings it back. A whole round sent to a still failing provider
  // would waste its attempts and log a change of route each way every window.
  const down = new Map<string, { until: number; reply: string; strikes: number }>();
  const probing = new Set<string>();
  const tried = new Map<string, Set<string>>();
  let pending: Decision[] = [];

  function decide(d: Decision): void {
    const last = pending[pending.length - 1];
    if (last && last.batchId === d.batchId && last.provider === d.provider && last.reason === d.reason && last.detail === d.detail) last.count += d.count;
    else pending.push(d);
  }

  /** Providers down, and of them those whose window has passed and that no message probes yet. */
  function downSet(now: Date): { isDown: Set<string>; probe: Set<string> } {
    const probe = new Set<string>();
    for (const [name, state] of down) if (state.until <= now.getTime() && !probing.has(name)) probe.add(name);
    return { isDown: new Set(down.keys()), probe };
  }

  async function routing(ids: string[], now: Date): Promise<void> {
    const stale = ids.filter((id) => (batches.get(id)?.at ?? -Infinity) + BATCH_CACHE_MS < now.getTime());
    if (!stale.length) return;
    const rows = await db.selectFrom('batches').select(['id', 'key_id', 'status', 'policy']).where('id', 'in', stale).execute();
    for (const r of rows) {
      const policy = typeof r.policy === 'string' ? JSON.parse(r.policy) : r.policy;
      batches.set(r.id, { keyId: r.key_id, status: r.status, policy: effectivePolicy(policy, deps.defaultProvider), at: now.getTime() });
    }
  }

  /** Of `wanted` messages for a provider, how many it may take now. */
  async function room(batch: BatchRouting, provider: string, wanted: number, now: Date): Promise<number> {
    if (batch.policy.hourly_cap === undefined) return wanted;
    return reserveCap(db, batch.keyId, provider, hourOf(now), wanted, batch.policy.hourly_cap);
  }

  return {
    async plan(messages: ClaimedMessage[], now: Date): Promise<Map<string, RouteChoice>> {
      const choices = new Map<string, RouteChoice>();
      const byBatch = new Map<string, ClaimedMessage[]>();
      for (const m of messages) {
        if (!m.batch_id) continue;
        const group = byBatch.get(m.batch_id);
        if (group) group.push(m);
        else byBatch.set(m.batch_id, [m]);
      }
      await routing([...byBatch.keys()], now);
      const { isDown, probe } = downSet(now);
      for (const [batchId, group] of byBatch) {
        const batch = batches.get(batchId);
        if (!batch) continue;
        if (batch.status === 'cancelled') {
          for (const m of group) choices.set(m.id, { kind: 'drop', reason: 'batch cancelled' });
          continue;
        }
        // Messages grouped by their order of providers, so each provider's cap is asked once per group.
        const queues = new Map<string, { order: string[]; reason: 'primary' | 'weight'; messages: ClaimedMessage[] }>();
        for (const m of group) {
          const passedOver = probe.size ? new Set([...isDown].filter((p) => !probe.has(p))) : isDown;
          const { order, reason } = providerOrder(batch.policy, random(), passedOver);
          if (probe.delete(order[0]!)) probing.add(order[0]!);
          const key = order.join('\u0000');
          const q = queues.get(key) ?? { order, reason, messages: [] };
          q.messages.push(m);
          queues.set(key, q);
        }
        for (const q of queues.values()) {
          let left = q.messages;
          const probeQueue = isDown.has(q.order[0]!) && probing.has(q.order[0]!);
          let why: { reason: string; detail: string | null } = {
            reason: probeQueue ? 'probe' : q.reason === 'weight' ? 'weight' : q.order[0] === batch.policy.providers[0] ? 'primary' : 'failover',
            detail: q.order[0] === batch.policy.providers[0] || q.reason === 'weight' ? null : `${batch.policy.providers.filter((p) => isDown.has(p)).map((p) => `${p}: ${down.get(p)!.reply}`).join('; ')}`,
          };
          for (const provider of q.order) {
            if (!left.length) break;
            if (isDown.has(provider) && !(probeQueue && provider === q.order[0]) && provider !== q.order[q.order.length - 1]) continue;
            const granted = await room(batch, provider, left.length, now);
            const taking = left.slice(0, granted);
            left = left.slice(granted);
            for (const m of taking) {
              choices.set(m.id, { kind: 'send', provider });
              tried.set(m.id, new Set([provider]));
            }
            if (taking.length) decide({ batchId, provider, reason: why.reason, detail: why.detail, count: taking.length });
            why = { reason: 'cap_reached', detail: `${provider} reached its hourly cap of ${batch.policy.hourly_cap}` };
          }
          if (left.length) {
            const until = nextHour(now);
            for (const m of left) choices.set(m.id, { kind: 'wait', until, reason: 'hourly cap' });
            decide({ batchId, provider: null, reason: 'cap_reached', detail: `every provider reached its hourly cap of ${batch.policy.hourly_cap}; waiting until ${until.toISOString()}`, count: left.length });
          }
        }
      }
      return choices;
    },

    async failover(message: ClaimedMessage, failed: string, result: SendResult, now: Date): Promise<string | null> {
      const was = down.get(failed);
      // A failure within the window is the same outage; a failed probe doubles the next window.
      const strikes = !was ? 1 : was.until <= now.getTime() ? was.strikes + 1 : was.strikes;
      if (!was || was.until <= now.getTime()) down.set(failed, { until: now.getTime() + providerDownMs(strikes), reply: result.reply, strikes });
      probing.delete(failed);
      const batch = message.batch_id ? batches.get(message.batch_id) : undefined;
      if (!batch) return null;
      const seen = tried.get(message.id) ?? new Set([failed]);
      seen.add(failed);
      tried.set(message.id, seen);
      for (const provider of batch.policy.providers) {
        if (seen.has(provider)) continue;
        seen.add(provider);
        if ((await room(batch, provider, 1, now)) < 1) {
          decide({ batchId: message.batch_id!, provider, reason: 'cap_reached', detail: `${provider} reached its hourly cap of ${batch.policy.hourly_cap}`, count: 1 });
          continue;
        }
        decide({ batchId: message.batch_id!, provider, reason: 'failover', detail: `${failed}: ${result.reply}`, count: 1 });
        return provider;
      }
      return null;
    },

    async flush(now: Date): Promise<void> {
      const writing = pending;
      pending = [];
      // Called once a round has ended: no message of it is still being tried.
      tried.clear();
      // A probe that did not fail by the end of its round: the provider is back.
      for (const name of probing) {
        const state = down.get(name);
        if (state && state.until <= now.getTime()) down.delete(name);
      }
      probing.clear();
      await appendDecisions(db, writing, now);
    },
  };
}
