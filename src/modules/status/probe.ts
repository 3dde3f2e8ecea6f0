import { access, constants, mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { ProviderConfig } from '../../delivery/providers.ts';

export interface Reachability {
  provider: string;
  type: string;
  /** null: not probed (an HTTP API provider, reached only by sending). */
  reachable: boolean | null;
  detail: string;
}

/** Connects to an SMTP relay and reads its greeting (a 220), then says QUIT. */
export function probeSmtp(url: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const target = new URL(url);
  const secure = target.protocol === 'smtps:';
  const port = Number(target.port || (secure ? 465 : 587));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
    let text = '';
    const done = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (ok) socket.end('QUIT\r\n');
      else socket.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, `no greeting from ${host}:${port} within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => done(false, `${host}:${port}: ${error.code ?? error.message}`));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      const line = /^(\d{3}) [^\r\n]*/m.exec(text);
      if (line) done(line[1] === '220', `${host}:${port} answered ${line[0].slice(0, 120)}`);
    });
  });
}

/** Whether each configured provider can take mail now, as far as can be told without sending. */
export async function probeProviders(providers: Record<string, ProviderConfig>, dataDir: string, timeoutMs = 3_000): Promise<Reachability[]> {
  return Promise.all(
    Object.entries(providers).map(async ([name, config]): Promise<Reachability> => {
      if (config.type === 'smtp') {
        const { ok, detail } = await probeSmtp(String(config.url), timeoutMs);
        return { provider: name, type: 'smtp', reachable: ok, detail };
      }
      if (config.type === 'outbox') {
        const dir = config.dir === undefined ? path.join(dataDir, 'outbox') : path.resolve(String(config.dir));
        try {
          await mkdir(dir, { recursive: true });
          await access(dir, constants.W_OK);
          return { provider: name, type: 'outbox', reachable: true, detail: `writes .eml files to ${dir}; nothing reaches a recipient` };
        } catch (error) {
          return { provider: name, type: 'outbox', reachable: false, detail: `${dir} is not writable: ${(error as Error).message}` };
        }
      }
      return { provider: name, type: config.type, reachable: null, detail: 'an HTTP API provider: not probed (its failures show in mailerdash_transport_connection_errors_total)' };
    }),
  );
}
