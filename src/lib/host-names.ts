/** Host names and URLs that only this machine can reach, and names that DNS can publish. Pure. */

const LOOPBACK_HOSTS = /^(localhost|.*\.localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0)$/i;

/** Whether links built on this URL can only work on this machine. */
export function isLocalUrl(url: string): boolean {
  try {
    return LOOPBACK_HOSTS.test(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** A fully qualified domain name: at least two labels, the last not numeric (so not an IP address). */
export function isFullyQualified(host: string): boolean {
  const labels = host.replace(/\.$/, '').split('.');
  return labels.length >= 2 && labels.every(Boolean) && !/^\d+$/.test(labels.at(-1)!) && !LOOPBACK_HOSTS.test(host);
}
