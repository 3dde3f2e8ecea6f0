import { Resolver } from 'node:dns/promises';

/** A resolver on the configured servers (host:port list), or the system's when none are given. */
export function createResolver(servers: string[], timeoutMs = 2_000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length) resolver.setServers(servers);
  return resolver;
}

const NO_DATA = new Set(['ENODATA', 'ENOTFOUND', 'ENONAME', 'NXDOMAIN']);

/** Whether a DNS error is a definite "no such record" rather than a failure to get an answer. */
export function isDefiniteNoAnswer(error: unknown): boolean {
  return NO_DATA.has((error as NodeJS.ErrnoException).code ?? '');
}
