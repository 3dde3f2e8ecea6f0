import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** One file of the built dashboard, held in memory with its gzip form and cache policy. */
export interface UiAsset {
  body: Buffer;
  gzip: Buffer | null;
  contentType: string;
  etag: string;
  /** Vite names these after their content hash: cached for a year, never revalidated. */
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt']);

/** Files under assets/ carry a content hash in their name (Vite's output). */
const HASHED = /^assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

/**
 * Reads the whole build once at start (a few hundred KB): serving is then a map lookup, and a build
 * replaced under a running server cannot mix old and new files. Null when there is no build.
 */
export function loadUiAssets(dir: string): Map<string, UiAsset> | null {
  if (!existsSync(path.join(dir, 'index.html'))) return null;
  const assets = new Map<string, UiAsset>();
  const walk = (relative: string) => {
    for (const name of readdirSync(path.join(dir, relative))) {
      const rel = relative ? `${relative}/${name}` : name;
      const full = path.join(dir, rel);
      if (statSync(full).isDirectory()) {
        walk(rel);
        continue;
      }
      const ext = path.extname(name).toLowerCase();
      const body = readFileSync(full);
      assets.set(rel, {
        body,
        gzip: COMPRESSIBLE.has(ext) && body.length > 1024 ? gzipSync(body) : null,
        contentType: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        immutable: HASHED.test(rel),
      });
    }
  };
  walk('');
  return assets;
}

/**
 * The dashboard's Content-Security-Policy: everything from this origin only, no inline script or
 * style, no plugins, no framing. Styles set from script through the CSSOM (charts) are not inline
 * styles in CSP's sense and stay allowed.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
