import { disposableEmailBlocklistSet } from 'disposable-email-domains-js';

let blocklist: Set<string> | null = null;

function list(): Set<string> {
  blocklist ??= disposableEmailBlocklistSet();
  return blocklist;
}

/** How many domains the maintained list holds (the seed promises more than 5,000). */
export function disposableDomainCount(): number {
  return list().size;
}

/** Whether an ASCII, lower-case domain is a throwaway-mail domain or a subdomain of one. */
export function isDisposableDomain(domain: string): boolean {
  const set = list();
  const labels = domain.split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    if (set.has(labels.slice(i).join('.'))) return true;
  }
  return false;
}
