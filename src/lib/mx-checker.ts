import type { Resolver } from 'node:dns/promises';
import { isCacheable, verdictFromAddresses, verdictFromMx, type DnsOutcome, type MxVerdict } from './mx-rules.ts';

export interface MxCheckerOptions {
  resolver: Pick<Resolver, 'resolveMx' | 'resolve4' | 'resolve6'>;
  /** How long a definite verdict is trusted (24 h). */
  ttlMs?: number;
  /** Most domains kept; the oldest entry goes first. */
  maxEntries?: number;
  now?: () => number;
}

export interface MxChecker {
  /** The verdict for one ASCII domain; concurrent asks for the same domain share one lookup. */
  check(domain: string): Promise<MxVerdict>;
  /** Verdicts for many domains, each looked up once and all at the same time. */
  checkAll(domains: Iterable<string>): Promise<Map<string, MxVerdict>>;
  /** Seeds the cache (benchmarks, warm start). */
  remember(domain: string, verdict: MxVerdict): void;
  size(): number;
}

const NOT_FOUND = new Set(['ENOTFOUND', 'NXDOMAIN', 'ENONAME']);

async function ask<T>(query: () => Promise<T[]>): Promise<DnsOutcome<T>> {
  try {
    const records = await query();
    return records.length ? { kind: 'records', records } : { kind: 'nodata' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    if (code === 'ENODATA') return { kind: 'nodata' };
    if (NOT_FOUND.has(code)) return { kind: 'nxdomain' };
    return { kind: 'error', code };
  }
}

export function createMxChecker(options: MxCheckerOptions): MxChecker {
  const { resolver } = options;
  const ttlMs = options.ttlMs ?? 24 * 3600_000;
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { verdict: MxVerdict; until: number }>();
  const inFlight = new Map<string, Promise<MxVerdict>>();

  function remember(domain: string, verdict: MxVerdict): void {
    cache.delete(domain);
    cache.set(domain, { verdict, until: now() + ttlMs });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
  }

  async function lookUp(domain: string): Promise<MxVerdict> {
    const fromMx = verdictFromMx(await ask(() => resolver.resolveMx(domain)));
    if (fromMx) return fromMx;
    const [a, aaaa] = await Promise.all([ask(() => resolver.resolve4(domain)), ask(() => resolver.resolve6(domain))]);
    return verdictFromAddresses(a, aaaa);
  }

  function check(domain: string): Promise<MxVerdict> {
    const cached = cache.get(domain);
    if (cached && cached.until > now()) return Promise.resolve(cached.verdict);
    if (cached) cache.delete(domain);
    let pending = inFlight.get(domain);
    if (!pending) {
      pending = lookUp(domain)
        .then((verdict) => {
          if (isCacheable(verdict)) remember(domain, verdict);
          return verdict;
        })
        .finally(() => inFlight.delete(domain));
      inFlight.set(domain, pending);
    }
    return pending;
  }

  return {
    check,
    async checkAll(domains) {
      const distinct = [...new Set(domains)];
      const verdicts = await Promise.all(distinct.map(check));
      return new Map(distinct.map((d, i) => [d, verdicts[i]!]));
    },
    remember,
    size: () => cache.size,
  };
}
