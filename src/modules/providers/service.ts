import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { conflict, invalid, notFound } from '../../errors.ts';
import { newId } from '../../lib/ids.ts';
import type { SealedBox } from '../../lib/sealed-box.ts';
import { UrlRefused, type OutboundGuard } from '../../lib/ssrf.ts';
import type { CheckResult, ProviderTransport } from '../../delivery/esp/results.ts';
import { createProviderTransport, isProviderType, PROVIDER_KINDS, splitSecrets, type ProviderConfig, type ProviderType } from '../../delivery/provider-types.ts';
import type { Principal } from '../keys/service.ts';
import * as repo from './repo.ts';

export interface ProvidersServiceDeps {
  db: Kysely<DB>;
  /** Seals the secret fields (purpose `provider-credentials`). */
  secrets: SealedBox;
  /** A base_url override is an outbound URL chosen by a tenant: SSRF-checked like a webhook URL. */
  guard: OutboundGuard;
  /** Builds the transport of a configuration (tests may count or wrap them). */
  transportOf?: (config: ProviderConfig) => ProviderTransport;
  now?: () => Date;
}

export interface ProviderView {
  id: string;
  key_id: string;
  name: string;
  type: ProviderType;
  /** The configuration less its secrets. */
  config: Record<string, unknown>;
  /** Names of the secret fields that are set (their values are never answered). */
  secrets_set: string[];
  /** Where the provider's event webhook posts (relative to MAILERDASH_PUBLIC_URL). */
  events_path: string;
  created_at: string;
  updated_at: string;
}

/** A provider with its secrets opened, for transports and event verification. */
export interface OpenedProvider {
  /** The per-key provider's id, or `operator:<name>` for one of MAILERDASH_PROVIDERS. */
  id: string;
  /** The key it belongs to; null for an operator provider (it sends for every key). */
  keyId: string | null;
  name: string;
  config: ProviderConfig;
}

/**
 * The operator's email service providers (MAILERDASH_PROVIDERS) as event sources, known by the
 * name in /v1/events/{type}/{name}; their webhook secrets are those of the operator configuration.
 */
export function operatorEventSources(providers: Record<string, { type: string }> | null): (name: string) => OpenedProvider | null {
  return (name) => {
    const config = providers && Object.hasOwn(providers, name) ? providers[name]! : null;
    if (!config || !isProviderType(config.type)) return null;
    return { id: `operator:${name}`, keyId: null, name, config: config as ProviderConfig };
  };
}

export type ProvidersService = ReturnType<typeof createProvidersService>;

export function createProvidersService(deps: ProvidersServiceDeps) {
  const { db } = deps;
  const clock = deps.now ?? (() => new Date());
  const transportOf = deps.transportOf ?? createProviderTransport;

  const view = (row: repo.ProviderRow, secrets: string[]): ProviderView => ({
    id: row.id,
    key_id: row.key_id,
    name: row.name,
    type: row.type,
    config: row.settings,
    secrets_set: secrets,
    events_path: `/v1/events/${row.type}/${row.id}`,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  });

  async function opened(row: repo.ProviderRow): Promise<OpenedProvider> {
    const secrets = JSON.parse(await deps.secrets.open(row.secrets_sealed)) as Record<string, string>;
    return { id: row.id, keyId: row.key_id, name: row.name, config: { ...row.settings, ...secrets, type: row.type } as ProviderConfig };
  }

  async function own(principal: Principal, id: string): Promise<repo.ProviderRow> {
    const row = await repo.findProvider(db, principal.keyId, id);
    if (!row) throw notFound('provider');
    return row;
  }

  /** Validates a whole configuration of a type, and SSRF-checks its base URL. */
  async function parse(type: ProviderType, config: Record<string, unknown>): Promise<ProviderConfig> {
    const parsed = PROVIDER_KINDS[type].parse({ ...config, type });
    if ('base_url' in parsed && parsed.base_url) {
      try {
        await deps.guard.check(parsed.base_url);
      } catch (error) {
        if (error instanceof UrlRefused) throw invalid(error.code.replace('webhook_', 'provider_'), error.message, 'config.base_url');
        throw error;
      }
    }
    return parsed;
  }

  async function stored(config: ProviderConfig) {
    const { settings, secrets } = splitSecrets(config);
    return { settings, secrets_sealed: await deps.secrets.seal(JSON.stringify(secrets)), secretNames: Object.keys(secrets) };
  }

  return {
    async create(principal: Principal, input: { name: string; type: string; config: Record<string, unknown> }): Promise<ProviderView> {
      if (!isProviderType(input.type)) throw invalid('invalid_provider_type', `type must be one of ${Object.keys(PROVIDER_KINDS).join(', ')}`, 'type');
      const config = await parse(input.type, input.config);
      const { settings, secrets_sealed, secretNames } = await stored(config);
      const row = await repo.insertProvider(db, { id: newId('prv'), key_id: principal.keyId, name: input.name, type: input.type, settings, secrets_sealed });
      if (!row) throw conflict('provider_name_taken', `this key already has a provider named "${input.name}"`, 'name');
      return view(row, secretNames);
    },

    async get(principal: Principal, id: string): Promise<ProviderView> {
      const row = await own(principal, id);
      return view(row, Object.keys(splitSecrets((await opened(row)).config).secrets));
    },

    async list(scopeKeyId: string | null, page: { limit: number; offset: number }) {
      const { rows, total } = await repo.listProviders(db, { keyId: scopeKeyId, ...page });
      return { data: await Promise.all(rows.map(async (row) => view(row, Object.keys(splitSecrets((await opened(row)).config).secrets)))), total };
    },

    /** `config` is merged into the stored one (a secret left out stays as it was); the whole is validated again. */
    async update(principal: Principal, id: string, input: { name?: string; config?: Record<string, unknown> }): Promise<ProviderView> {
      const row = await own(principal, id);
      const current = await opened(row);
      const merged = Object.fromEntries(Object.entries({ ...current.config, ...(input.config ?? {}) }).filter(([, value]) => value !== null));
      const config = await parse(row.type, merged);
      const { settings, secrets_sealed, secretNames } = await stored(config);
      const updated = await repo.updateProvider(db, id, { name: input.name ?? row.name, settings, secrets_sealed }, clock());
      if (updated === 'name_taken') throw conflict('provider_name_taken', `this key already has a provider named "${input.name}"`, 'name');
      return view(updated, secretNames);
    },

    async remove(principal: Principal, id: string): Promise<void> {
      await own(principal, id);
      await repo.deleteProvider(db, id);
    },

    /** A harmless authenticated call: SES GetAccount, SendGrid /v3/scopes, Mailgun's domain, Postmark /server. */
    async check(principal: Principal, id: string): Promise<CheckResult & { checked_at: string }> {
      const provider = await opened(await own(principal, id));
      const transport = transportOf(provider.config);
      try {
        return { ...(await transport.check()), checked_at: clock().toISOString() };
      } finally {
        await transport.close();
      }
    },

    /** A provider by id alone, secrets opened (the event routes; null: no such provider). */
    async forEvents(id: string): Promise<OpenedProvider | null> {
      const row = await repo.findProviderById(db, id);
      return row ? opened(row) : null;
    },

    /** The names of a key's providers (a batch policy may name them). */
    namesOf: (keyId: string) => repo.providerNamesOf(db, keyId),

    /** A key's provider by name, secrets opened, with its version (updated_at), for sending through it; null: none. */
    async openedByName(keyId: string, name: string): Promise<{ config: ProviderConfig; version: string } | null> {
      const row = await repo.findProviderByName(db, keyId, name);
      return row ? { config: (await opened(row)).config, version: new Date(row.updated_at).toISOString() } : null;
    },

    /** A key's provider, secrets opened, for sending through it. */
    async opened(principal: Principal, id: string): Promise<OpenedProvider> {
      return opened(await own(principal, id));
    },
  };
}
