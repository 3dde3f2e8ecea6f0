import { createProviderTransport, type ProviderConfig } from './provider-types.ts';
import { gathered, ProviderConfigError, type ProviderSet } from './providers.ts';
import type { Transport } from './transport.ts';

/** A key's own provider (/v1/providers) as stored: its configuration with secrets opened, and its version. */
export type OpenKeyProvider = (keyId: string, name: string) => Promise<{ config: ProviderConfig; version: string } | null>;

/** How long an opened per-key provider is used before it is looked up again (a PATCH or DELETE takes effect). */
export const KEY_PROVIDER_TTL_MS = 30_000;

/**
 * The operator's providers plus each key's own: a name the operator configured is always the
 * operator's; any other is looked up among the key's providers by prepare(), whose transports are
 * kept per key, name and version (a changed provider gets a new transport; the old one, which sends
 * already handed to it may still use, is closed with the set).
 */
export function withKeyProviders(operator: ProviderSet, open: OpenKeyProvider, options: { ttlMs?: number; now?: () => number } = {}): ProviderSet {
  const ttl = options.ttlMs ?? KEY_PROVIDER_TTL_MS;
  const now = options.now ?? Date.now;
  const opened = new Map<string, { transport: Transport; version: string; until: number } | null>();
  const retired: Transport[] = [];
  const slot = (keyId: string, name: string) => `${keyId}\u0000${name}`;

  async function refresh(keyId: string, name: string): Promise<void> {
    const at = slot(keyId, name);
    const held = opened.get(at);
    if (held !== undefined && (held?.until ?? 0) > now()) return;
    const found = await open(keyId, name);
    if (held && (!found || found.version !== held.version)) retired.push(held.transport);
    if (!found) return void opened.set(at, null);
    if (held && found.version === held.version) return void (held.until = now() + ttl);
    opened.set(at, { transport: gathered(createProviderTransport(found.config)), version: found.version, until: now() + ttl });
  }

  return {
    defaultName: operator.defaultName,
    names: operator.names,
    has: (name) => operator.has(name),
    get(name, keyId) {
      if (name === null || operator.has(name) || keyId === undefined) return operator.get(name);
      const held = opened.get(slot(keyId, name));
      if (!held) throw new ProviderConfigError(name, 'is neither an operator provider nor one of the key\'s');
      return held.transport;
    },
    async prepare(keyId, names) {
      for (const name of new Set(names)) if (!operator.has(name)) await refresh(keyId, name);
    },
    async close() {
      const closing = [...retired.splice(0), ...[...opened.values()].flatMap((held) => (held ? [held.transport] : []))];
      opened.clear();
      await Promise.all([operator.close(), ...closing.map((t) => t.close())]);
    },
  };
}
