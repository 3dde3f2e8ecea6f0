import path from 'node:path';
import { createOutboxTransport } from './outbox/transport.ts';
import { createSmtpTransport } from './smtp/transport.ts';
import type { Transport } from './transport.ts';
import { coalescing } from './batching.ts';
import { DomainError } from '../errors.ts';
import { createProviderTransport, PROVIDER_KINDS, PROVIDER_TYPES as ESP_TYPES, type ProviderConfig as EspConfig, type ProviderType as EspType } from './provider-types.ts';

/** One named provider as the operator configured it (MAILERDASH_PROVIDERS): a type plus its own settings. */
export interface ProviderConfig {
  type: string;
  [setting: string]: unknown;
}

/** What every factory may use besides its own settings. */
export interface ProviderContext {
  /** EHLO name and Message-ID domain (MAILERDASH_HOSTNAME). */
  hostname: string;
  dataDir: string;
  /** Connections an SMTP provider keeps open per process when its settings name none. */
  smtpConnections: number;
}

export class ProviderConfigError extends Error {
  constructor(
    readonly provider: string,
    reason: string,
  ) {
    super(`provider ${provider}: ${reason}`);
    this.name = 'ProviderConfigError';
  }
}

/** How a provider type checks its settings (at start, opening nothing) and becomes a transport. */
interface ProviderType {
  validate(name: string, config: ProviderConfig): void;
  create(name: string, config: ProviderConfig, context: ProviderContext): Transport;
}

function stringSetting(name: string, config: ProviderConfig, setting: string): string {
  const value = config[setting];
  if (typeof value !== 'string' || !value) throw new ProviderConfigError(name, `"${setting}" is required`);
  return value;
}

function smtpConnections(name: string, config: ProviderConfig, fallback: number): number {
  const connections = config.connections === undefined ? fallback : Number(config.connections);
  if (!Number.isInteger(connections) || connections < 1) throw new ProviderConfigError(name, '"connections" must be a whole number above 0');
  return connections;
}

/** An email service provider's settings, checked against the same schema as a per-key provider's. */
export function espConfig(name: string, config: ProviderConfig): EspConfig {
  try {
    return PROVIDER_KINDS[config.type as EspType].parse(config);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const fields = error.details.map((d) => d.message).join('; ');
    throw new ProviderConfigError(name, fields || error.message);
  }
}

/** The email service providers (src/delivery/<type>/), configured by the operator as by a key. */
const ESP_PROVIDER_TYPES: Record<string, ProviderType> = Object.fromEntries(
  ESP_TYPES.map((type) => [type, { validate: (name, config) => void espConfig(name, config), create: (name, config) => createProviderTransport(espConfig(name, config)) } satisfies ProviderType]),
);

/** The provider types and how each becomes a transport. */
export const PROVIDER_TYPES: Record<string, ProviderType> = {
  ...ESP_PROVIDER_TYPES,
  smtp: {
    validate(name, config) {
      if (!/^smtps?:\/\//.test(stringSetting(name, config, 'url'))) throw new ProviderConfigError(name, '"url" must start with smtp:// or smtps://');
      smtpConnections(name, config, 1);
    },
    create: (name, config, context) =>
      createSmtpTransport({ url: stringSetting(name, config, 'url'), clientName: context.hostname, maxConnections: smtpConnections(name, config, context.smtpConnections) }),
  },
  outbox: {
    validate(name, config) {
      if (config.dir !== undefined) stringSetting(name, config, 'dir');
    },
    create: (name, config, context) => createOutboxTransport(config.dir === undefined ? path.join(context.dataDir, 'outbox') : path.resolve(stringSetting(name, config, 'dir'))),
  },
};

/** The operator's named providers, each behind the one transport interface, and the default one. */
export interface ProviderSet {
  readonly defaultName: string;
  readonly names: readonly string[];
  has(name: string): boolean;
  /**
   * The transport of a named provider (the default when name is null). With a key: a name that is
   * not the operator's is that key's own provider, opened by prepare() first.
   */
  get(name: string | null, keyId?: string): Transport;
  /** Opens the key's own providers among `names` (those not the operator's) for get(). */
  prepare?(keyId: string, names: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Checks every entry (type known, settings present) without opening anything. */
export function validateProviders(providers: Record<string, ProviderConfig>, defaultName: string): void {
  if (!Object.keys(providers).length) throw new ProviderConfigError('(none)', 'at least one provider must be named');
  for (const [name, config] of Object.entries(providers)) {
    if (!/^[a-z0-9][a-z0-9_.-]{0,62}$/i.test(name)) throw new ProviderConfigError(name, 'a name is letters, digits, "-", "_" or "." (at most 63)');
    if (!config || typeof config !== 'object' || typeof config.type !== 'string') throw new ProviderConfigError(name, '"type" is required');
    const type = PROVIDER_TYPES[config.type];
    if (!type) throw new ProviderConfigError(name, `unknown type "${config.type}" (known: ${Object.keys(PROVIDER_TYPES).join(', ')})`);
    type.validate(name, config);
  }
  if (!providers[defaultName]) throw new ProviderConfigError(defaultName, 'the default provider is not among the named providers');
}

/** A provider with a batch endpoint gets the send job's one-at-a-time hand-overs gathered into its calls. */
export const gathered = (made: Transport): Transport => (made.sendBatch ? coalescing(made as Parameters<typeof coalescing>[0]) : made);

/** Transports are made on first use, so a process that never sends to a provider never connects to it. */
export function createProviderSet(providers: Record<string, ProviderConfig>, defaultName: string, context: ProviderContext): ProviderSet {
  validateProviders(providers, defaultName);
  const open = new Map<string, Transport>();
  const names = Object.keys(providers);
  return {
    defaultName,
    names,
    has: (name) => Object.hasOwn(providers, name),
    get(name) {
      const chosen = name ?? defaultName;
      let transport = open.get(chosen);
      if (!transport) {
        const config = providers[chosen];
        if (!config) throw new ProviderConfigError(chosen, 'is not a configured provider');
        transport = gathered(PROVIDER_TYPES[config.type]!.create(chosen, config, context));
        open.set(chosen, transport);
      }
      return transport;
    },
    async close() {
      const closing = [...open.values()];
      open.clear();
      await Promise.all(closing.map((t) => t.close()));
    },
  };
}

/** One transport as the whole provider set (tests, benchmarks, and a deployment with one relay). */
export function singleProvider(transport: Transport, name = transport.name): ProviderSet {
  return {
    defaultName: name,
    names: [name],
    has: (n) => n === name,
    get(n) {
      if (n !== null && n !== name) throw new ProviderConfigError(n, 'is not a configured provider');
      return transport;
    },
    close: () => transport.close(),
  };
}

/** Several ready transports by name (tests that route between two local servers). */
export function providerSetOf(transports: Record<string, Transport>, defaultName: string): ProviderSet {
  if (!transports[defaultName]) throw new ProviderConfigError(defaultName, 'the default provider is not among the named providers');
  return {
    defaultName,
    names: Object.keys(transports),
    has: (n) => Object.hasOwn(transports, n),
    get(n) {
      const transport = transports[n ?? defaultName];
      if (!transport) throw new ProviderConfigError(n!, 'is not a configured provider');
      return transport;
    },
    close: async () => void (await Promise.all(Object.values(transports).map((t) => t.close()))),
  };
}
