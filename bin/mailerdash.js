#!/usr/bin/env node
// Runs the bundled build (dist/bundle, made by `npm run build`, which `npm ci` runs as `prepare`) when it is
// at least as new as every source file; otherwise the TypeScript sources through tsx, so a clone
// being edited never runs stale JavaScript and a clone without a build still works.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    // Tests are not compiled, so editing one leaves the build current.
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

function buildIsCurrent() {
  try {
    return statSync(path.join(root, 'dist', '.built')).mtimeMs >= newestSource(path.join(root, 'src'));
  } catch {
    return false; // no build
  }
}

let main;
if (buildIsCurrent()) {
  ({ main } = await import('../dist/bundle/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
await main(process.argv.slice(2));
