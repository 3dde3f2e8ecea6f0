import type { Config } from '../config.ts';
import { readServerFile } from './server-file.ts';

/** The HTTP API a CLI command talks to: a running server's, or one this process starts for itself. */
export interface ApiClient {
  /** Where the API is, and whether it is another process's. */
  url: string;
  remote: boolean;
  request(method: string, path: string, init?: { body?: BodyInit; headers?: Record<string, string>; duplex?: 'half'; signal?: AbortSignal }): Promise<Response>;
  close(): Promise<void>;
}

export class CliError extends Error {}

function client(url: string, key: string, remote: boolean, close: () => Promise<void> = async () => {}): ApiClient {
  const base = url.replace(/\/+$/, '');
  return {
    url: base,
    remote,
    async request(method, path, init = {}) {
      try {
        return await fetch(`${base}${path}`, { method, body: init.body, headers: { authorization: `Bearer ${key}`, ...init.headers }, signal: init.signal, ...(init.duplex ? { duplex: init.duplex } : {}) } as RequestInit);
      } catch (error) {
        throw new CliError(`cannot reach ${base}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
      }
    },
    close,
  };
}

const HELD = /is in use by process (\d+)/;

/**
 * MAILERDASH_URL with MAILERDASH_API_KEY when set; else this data directory's own database, through an
 * API started in this process for the command; else, when a running server holds the embedded
 * database, that server (its URL and admin key from the data directory).
 */
export async function connectApi(config: Config, env: Record<string, string | undefined> = process.env): Promise<ApiClient> {
  if (env.MAILERDASH_URL) {
    if (!env.MAILERDASH_API_KEY) throw new CliError('MAILERDASH_URL needs MAILERDASH_API_KEY (an API key of that server)');
    return client(env.MAILERDASH_URL, env.MAILERDASH_API_KEY, true);
  }
  try {
    return await startLocalApi(config);
  } catch (error) {
    const held = HELD.exec((error as Error).message);
    if (!held) throw error;
    const file = readServerFile(config.dataDir);
    if (!file?.url) throw new CliError(`${(error as Error).message}; that process left no server URL in ${config.dataDir}: set MAILERDASH_URL and MAILERDASH_API_KEY`);
    return client(file.url, env.MAILERDASH_API_KEY ?? file.key, true);
  }
}

/** The API on loopback for this command alone, with an admin key revoked when the command ends. */
async function startLocalApi(config: Config): Promise<ApiClient> {
  const [{ openDatabase }, { migrateToLatest }, { createContext, createLogger }, { buildApi }] = await Promise.all([
    import('../db/database.ts'),
    import('../db/migrate.ts'),
    import('../composition.ts'),
    import('../http/app.ts'),
  ]);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrateToLatest(database.db);
    const logger = createLogger('silent');
    const context = createContext(config, database, logger);
    const { key, secret } = await context.services.keys.createKey({ name: 'cli (this command)', admin: true, domains: [] });
    const app = await buildApi({ services: context.services, logger, metrics: context.metrics, bodyLimitBytes: config.bodyLimitBytes, ping: database.ping });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    return client(`http://127.0.0.1:${port}`, secret, false, async () => {
      await app.close();
      await context.services.keys.revokeById(key.id);
      await database.close();
    });
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
}

/** The JSON of a 2xx answer, or a CliError carrying the API's first error. */
export async function expectOk<T>(response: Response): Promise<T> {
  const text = await response.text();
  if (response.ok) return (text ? JSON.parse(text) : null) as T;
  let reason = text;
  try {
    const first = (JSON.parse(text) as { errors?: Array<{ message: string; field?: string | null; code?: string }> }).errors?.[0];
    if (first) reason = `${first.message}${first.field ? ` (${first.field})` : ''}${first.code ? ` [${first.code}]` : ''}`;
  } catch {
    // not the error envelope: the body as it came
  }
  throw new CliError(`HTTP ${response.status}: ${reason}`);
}
