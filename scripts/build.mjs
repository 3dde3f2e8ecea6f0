// Compiles src/ to dist/ (tsc, types not checked again: `npm run typecheck` does that) and stamps the
// build, so bin/mailerdash.js can tell a build older than the sources and run the sources instead.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  console.log('mailerdash build: typescript is not installed (production install); the binary runs the sources');
  process.exit(0);
}
rmSync('dist', { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
writeFileSync('dist/.built', `${new Date().toISOString()}\n`);
