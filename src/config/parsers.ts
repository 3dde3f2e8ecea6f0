import os from 'node:os';

/** Shared pieces of the variable specs: each concept's file (server, delivery, …) declares its variables with these. */

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

export interface VariableSpec<C, K extends keyof C = keyof C> {
  name: string;
  key: K;
  description: string;
  defaultText: string;
  parse(raw: string | undefined, env: Env): C[K];
}

/** A spec builder bound to one concept's part of the configuration, so each key's type is checked. */
export function specsOf<C>() {
  return <K extends keyof C>(s: VariableSpec<C, K>): VariableSpec<C, K> => s;
}

export function integer(name: string, fallback: number, min: number, max: number) {
  return (raw: string | undefined): number => {
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function boolean(name: string) {
  return (raw: string | undefined): boolean => {
    if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
    if (raw === 'true' || raw === '1') return true;
    throw new ConfigError(name, `must be true or false, got "${raw}"`);
  };
}

export function optional(raw: string | undefined): string | null {
  return raw === undefined || raw === '' ? null : raw;
}

export function url(name: string, protocols: string[]) {
  return (raw: string | undefined): string | null => {
    const value = optional(raw);
    if (value === null) return null;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ConfigError(name, `is not a valid URL`);
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
    }
    return value;
  };
}

export const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export function hostname(name: string, fallback: () => string) {
  return (raw: string | undefined): string => {
    const value = optional(raw) ?? fallback();
    if (!HOSTNAME_RE.test(value)) throw new ConfigError(name, `is not a valid host name: "${value}"`);
    return value.toLowerCase();
  };
}

export function machineHostname(): string {
  return os.hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'localhost';
}

export function bounceDomainOf(env: Env): string {
  return hostname('MAILERDASH_BOUNCE_DOMAIN', () => optional(env.MAILERDASH_HOSTNAME) ?? machineHostname())(env.MAILERDASH_BOUNCE_DOMAIN);
}

/** An optional secret of at least `min` characters (keys are stored as unsalted hashes, so they must be long). */
export function secret(name: string, min: number) {
  return (raw: string | undefined): string | null => {
    const value = optional(raw);
    if (value !== null && value.length < min) throw new ConfigError(name, `must be at least ${min} characters, got ${value.length}`);
    return value;
  };
}
