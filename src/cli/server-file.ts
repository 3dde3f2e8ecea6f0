import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a server on the embedded database leaves in its data directory so the CLI, refused the
 * database it holds, can use its HTTP API instead: the URL and an admin key of its own. The file is
 * readable by the owner only, like the database beside it.
 */
export interface ServerFile {
  url: string;
  pid: number;
  key: string;
}

export const serverFilePath = (dataDir: string) => path.join(dataDir, 'server.json');

export function readServerFile(dataDir: string): ServerFile | null {
  try {
    const parsed = JSON.parse(readFileSync(serverFilePath(dataDir), 'utf8')) as Partial<ServerFile>;
    return typeof parsed.url === 'string' && typeof parsed.key === 'string' ? { url: parsed.url, key: parsed.key, pid: Number(parsed.pid) } : null;
  } catch {
    return null;
  }
}

export function writeServerFile(dataDir: string, file: ServerFile): void {
  writeFileSync(serverFilePath(dataDir), JSON.stringify(file, null, 2), { mode: 0o600 });
}

/** Keeps the key for the next start; only the URL of a stopped server goes. */
export function clearServerUrl(dataDir: string, pid: number): void {
  const file = readServerFile(dataDir);
  if (!file || file.pid !== pid) return;
  if (file.key) writeServerFile(dataDir, { ...file, url: '', pid: 0 });
  else rmSync(serverFilePath(dataDir), { force: true });
}
