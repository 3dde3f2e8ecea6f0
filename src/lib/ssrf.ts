// SSRF guard for outbound webhooks: a tenant-supplied URL must not reach loopback, the private
// network or the cloud metadata service, neither at check time nor at connect time.
import { lookup as systemLookup, type Resolver } from 'node:dns/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

type Range = [base: number, prefix: number, reason: string];
const RFC1918 = 'private (RFC 1918)';
// Longest-first only matters where ranges nest (broadcast inside 240/4).
const IPV4_REFUSED: Range[] = [
  [v4('255.255.255.255'), 32, 'broadcast'],
  [v4('0.0.0.0'), 8, 'unspecified'], // Linux connects 0.0.0.0 to the local host
  [v4('10.0.0.0'), 8, RFC1918],
  [v4('100.64.0.0'), 10, 'CGNAT'],
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link-local'], // includes the metadata service 169.254.169.254
  [v4('172.16.0.0'), 12, RFC1918],
  [v4('192.0.0.0'), 24, 'reserved'],
  [v4('192.0.2.0'), 24, 'documentation'],
  [v4('192.168.0.0'), 16, RFC1918],
  [v4('198.18.0.0'), 15, 'benchmarking'],
  [v4('198.51.100.0'), 24, 'documentation'],
  [v4('203.0.113.0'), 24, 'documentation'],
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('240.0.0.0'), 4, 'reserved'],
];

function v4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return NaN;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function inRange(ip: number, base: number, prefix: number): boolean {
  const size = 2 ** (32 - prefix);
  return Math.floor(ip / size) === Math.floor(base / size);
}

function classifyV4(ip: number): AddressVerdict {
  for (const [base, prefix, reason] of IPV4_REFUSED) {
    if (inRange(ip, base, prefix)) return { allowed: false, reason };
  }
  return { allowed: true };
}

/** Eight 16-bit groups, or null. Input is bracket- and zone-free. */
function expandIPv6(text: string): number[] | null {
  let s = text.toLowerCase();
  // A trailing dotted quad stands for the last two groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const n = v4(tail);
    if (Number.isNaN(n)) return null;
    s = `${s.slice(0, lastColon + 1)}${Math.floor(n / 65536).toString(16)}:${(n % 65536).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const split = (h: string | undefined) => (h ? h.split(':') : []);
  const head = split(halves[0]);
  const rest = split(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 1 ? 0 : missing).fill('0'), ...rest];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

/** Strips brackets and (for IPv6) a zone id, so every textual form reaches the same rules. */
function bareLiteral(ip: string): string {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone !== -1 && s.includes(':')) s = s.slice(0, zone);
  return s;
}

function embedded(reasonPrefix: string, hi: number, lo: number): AddressVerdict {
  const verdict = classifyV4(hi * 65536 + lo);
  return verdict.allowed ? verdict : { allowed: false, reason: `${reasonPrefix} ${verdict.reason}` };
}

function classifyV6(g: number[]): AddressVerdict {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (upperZero && g5 === 0 && g6 === 0) {
    if (g7 === 0) return { allowed: false, reason: 'unspecified' };
    if (g7 === 1) return { allowed: false, reason: 'loopback' };
  }
  // Forms that carry an IPv4 address reach that address, so the IPv4 rules decide.
  if (upperZero && g5 === 0xffff) return embedded('IPv4-mapped', g6, g7);
  if (upperZero && g5 === 0) return embedded('IPv4-compatible', g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return embedded('NAT64', g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return { allowed: false, reason: 'NAT64 local-use' };
  if (g0 === 0x2002) return embedded('6to4', g1, g2);
  if (g0 === 0x2001 && g1 === 0x0db8) return { allowed: false, reason: 'documentation' };
  if ((g0 & 0xfe00) === 0xfc00) return { allowed: false, reason: 'IPv6 unique local' };
  if ((g0 & 0xffc0) === 0xfe80) return { allowed: false, reason: 'link-local' };
  if ((g0 & 0xffc0) === 0xfec0) return { allowed: false, reason: 'IPv6 site-local' };
  if ((g0 & 0xff00) === 0xff00) return { allowed: false, reason: 'multicast' };
  // Only 2000::/3 is allocated global unicast; anything else is not a public destination.
  if ((g0 & 0xe000) !== 0x2000) return { allowed: false, reason: 'reserved' };
  return { allowed: true };
}

/** Pure: classifies one IP literal (v4 or v6, v6 may be in any textual form incl. '::ffff:127.0.0.1', '::ffff:7f00:1', '[::1]' with brackets). */
export function classifyAddress(ip: string): AddressVerdict {
  const bare = bareLiteral(ip);
  if (isIPv4(bare)) return classifyV4(v4(bare));
  const groups = isIPv6(bare) ? expandIPv6(bare) : null;
  return groups ? classifyV6(groups) : { allowed: false, reason: 'not an IP address' };
}

export class UrlRefused extends Error {
  constructor(
    readonly code: 'webhook_url_invalid' | 'webhook_url_forbidden' | 'webhook_url_unresolvable',
    message: string,
  ) {
    super(message);
    this.name = 'UrlRefused';
  }
}

export interface OutboundGuardOptions {
  /** Lower-cased host names or IP literals allowed to use http and private addresses. */
  allowHosts: string[];
  /** When given (configured DNS servers), resolve4+resolve6 on it; otherwise dns.promises.lookup so /etc/hosts counts. */
  resolver?: Resolver;
}

export interface CheckedTarget {
  url: URL;
  host: string;
  addresses: Array<{ address: string; family: 4 | 6 }>;
}

export interface OutboundGuard {
  /** Parses and checks a URL (https, or http for allowed hosts; no userinfo; every resolved address public unless allowed). Throws UrlRefused. */
  check(rawUrl: string): Promise<CheckedTarget>;
  /**
   * net/undici connect `lookup`: resolves and checks like `check`, and hands back only checked
   * addresses, so a DNS answer that changes between check and connect (rebinding) is caught.
   * Callers must still not follow redirects without checking the new URL.
   */
  lookup: (hostname: string, options: any, callback: (...args: any[]) => void) => void;
}

type Address = CheckedTarget['addresses'][number];

/** One spelling per host, so '[::1]', '0:0::1' and 'LOCALHOST.' compare equal to their allow-list entries. */
function normalizeHost(host: string): string {
  const bare = bareLiteral(host).toLowerCase();
  const groups = isIPv6(bare) ? expandIPv6(bare) : null;
  if (groups) return groups.map((g) => g.toString(16)).join(':');
  return bare.endsWith('.') ? bare.slice(0, -1) : bare;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
}

export function createOutboundGuard(options: OutboundGuardOptions): OutboundGuard {
  const allowed = new Set(options.allowHosts.map(normalizeHost));
  const isAllowed = (host: string) => allowed.has(normalizeHost(host));
  const resolver = options.resolver;

  async function resolve(host: string): Promise<Address[]> {
    const family = isIP(host);
    if (family) return [{ address: host, family: family as 4 | 6 }];
    let found: Address[];
    try {
      if (resolver) {
        // One family failing (no AAAA, a timeout) still leaves usable, checked addresses.
        const [a, aaaa] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
        if (a.status === 'rejected' && aaaa.status === 'rejected') throw a.reason;
        found = [
          ...(a.status === 'fulfilled' ? a.value.map((address) => ({ address, family: 4 as const })) : []),
          ...(aaaa.status === 'fulfilled' ? aaaa.value.map((address) => ({ address, family: 6 as const })) : []),
        ];
      } else {
        const answers = await systemLookup(host, { all: true });
        found = answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
      }
    } catch (error) {
      throw new UrlRefused('webhook_url_unresolvable', `${host} could not be resolved (${errorCode(error)})`);
    }
    if (!found.length) throw new UrlRefused('webhook_url_unresolvable', `${host} has no addresses`);
    return found;
  }

  // ANY non-public address refuses the host: the client may pick any of them when connecting.
  function refuseNonPublic(host: string, addresses: Address[]): void {
    if (isAllowed(host)) return;
    for (const { address } of addresses) {
      const verdict = classifyAddress(address);
      if (verdict.allowed) continue;
      const what = address === host ? address : `${host} resolves to ${address}, which`;
      throw new UrlRefused('webhook_url_forbidden', `${what} is not a public address (${verdict.reason})`);
    }
  }

  async function resolveChecked(hostname: string): Promise<{ host: string; addresses: Address[] }> {
    const host = bareLiteral(hostname).toLowerCase();
    const addresses = await resolve(host);
    refuseNonPublic(host, addresses);
    return { host, addresses };
  }

  async function check(rawUrl: string): Promise<CheckedTarget> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new UrlRefused('webhook_url_invalid', 'not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UrlRefused('webhook_url_invalid', `scheme ${url.protocol} is not allowed; use https`);
    }
    if (url.username || url.password) {
      throw new UrlRefused('webhook_url_invalid', 'URLs with credentials (user:pass@) are not allowed');
    }
    if (!url.hostname) throw new UrlRefused('webhook_url_invalid', 'URL has no host');
    if (url.protocol === 'http:' && !isAllowed(url.hostname)) {
      throw new UrlRefused('webhook_url_invalid', `http is not allowed for ${url.hostname}; use https`);
    }
    const { host, addresses } = await resolveChecked(url.hostname);
    return { url, host, addresses };
  }

  function lookup(hostname: string, lookupOptions: any, callback: (...args: any[]) => void): void {
    if (typeof lookupOptions === 'function') [callback, lookupOptions] = [lookupOptions, {}];
    const opts = typeof lookupOptions === 'number' ? { family: lookupOptions } : (lookupOptions ?? {});
    const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : Number(opts.family) || 0;
    // Called back outside the promise chain so a throwing callback is not a swallowed rejection.
    const deliver = (...args: unknown[]) => process.nextTick(() => callback(...args));
    resolveChecked(hostname).then(
      ({ host, addresses }) => {
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        const [first] = usable;
        if (!first) return deliver(new UrlRefused('webhook_url_unresolvable', `${host} has no IPv${family} address`));
        if (opts.all) deliver(null, usable.map((a) => ({ ...a })));
        else deliver(null, first.address, first.family);
      },
      (error: unknown) => deliver(error),
    );
  }

  return { check, lookup };
}
