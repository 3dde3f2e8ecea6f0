import type { Kysely } from 'kysely';
import type { Resolver } from 'node:dns/promises';
import type { DB } from '../../db/schema.ts';
import type { ProviderConfig } from '../../delivery/providers.ts';
import { isDefiniteNoAnswer } from '../../lib/dns.ts';
import { probeProviders, type Reachability } from './probe.ts';
import { queueSummary, sendingCampaigns, type CampaignProgress, type ChannelQueue } from './repo.ts';
import { setupChecks, type SetupCheck, type SetupFacts } from './setup-checks.ts';

export interface StatusDeps {
  db: Kysely<DB>;
  resolver: Pick<Resolver, 'resolveMx'>;
  settings: { publicUrl: string; hostname: string; bounceDomain: string; dataDir: string };
  providers: { providers: Record<string, ProviderConfig>; defaultName: string; fallback: boolean };
  now?: () => Date;
}

export interface Status {
  checked_at: string;
  default_provider: string;
  transports: Reachability[];
  queue: Array<Omit<ChannelQueue, 'oldestDueAt'> & { oldest_due_seconds: number | null }>;
  campaigns: CampaignProgress[];
  setup: SetupCheck[];
}

export type StatusService = ReturnType<typeof createStatusService>;

export function createStatusService(deps: StatusDeps) {
  const clock = deps.now ?? (() => new Date());
  const outbox: SetupFacts['outbox'] = deps.providers.providers[deps.providers.defaultName]?.type !== 'outbox' ? 'none' : deps.providers.fallback ? 'fallback' : 'chosen';

  async function bounceMx(): Promise<SetupFacts['bounceMx']> {
    try {
      return (await deps.resolver.resolveMx(deps.settings.bounceDomain)).length ? 'found' : 'none';
    } catch (error) {
      return isDefiniteNoAnswer(error) ? 'none' : 'unknown';
    }
  }

  /** The checks that need neither the database nor DNS: what `mailerdash start` prints at once. */
  function startChecks(): SetupCheck[] {
    return setupChecks({ ...deps.settings, outbox, bulkSending: false, bounceMx: 'unknown' });
  }

  /** The bounce domain's MX check alone (a DNS lookup, so `start` makes it after listening). */
  async function bounceDomainCheck(): Promise<SetupCheck | null> {
    const facts = { ...deps.settings, publicUrl: 'https://public.invalid', hostname: 'host.invalid', outbox: 'none' as const, bulkSending: false };
    return setupChecks({ ...facts, bounceMx: await bounceMx() })[0] ?? null;
  }

  return {
    startChecks,
    bounceDomainCheck,
    async status(): Promise<Status> {
      const now = clock();
      const [transports, queue, campaigns, mx] = await Promise.all([
        probeProviders(deps.providers.providers, deps.settings.dataDir),
        queueSummary(deps.db, now),
        sendingCampaigns(deps.db),
        bounceMx(),
      ]);
      return {
        checked_at: now.toISOString(),
        default_provider: deps.providers.defaultName,
        transports,
        queue: queue.map(({ oldestDueAt, ...q }) => ({ ...q, oldest_due_seconds: oldestDueAt ? Math.max(0, (now.getTime() - oldestDueAt.getTime()) / 1000) : null })),
        campaigns,
        setup: setupChecks({ ...deps.settings, outbox, bulkSending: campaigns.length > 0, bounceMx: mx }),
      };
    },
  };
}
