// bench:ui: the dashboard's bundle size (raw and as served, gzip) and how fast the first page is
// interactive in Debian's Chromium on this machine (issue 18: under 1 s, bundle under 300 KB gzipped).
// "Interactive" = from navigation start until the sign-in button is rendered and enabled; cold runs
// clear the browser cache first, warm runs reuse it (hashed assets are cached as immutable).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { testEngines } from '../test/support/engines.ts';
import { startHarness } from '../test/support/harness.ts';

const BUILD = fileURLToPath(new URL('../dist/ui', import.meta.url));
const RUNS = Number(process.env.BENCH_UI_RUNS ?? 10);
if (!existsSync(path.join(BUILD, 'index.html'))) throw new Error(`no dashboard build in ${BUILD}: run npm run build`);

let raw = 0;
let gzip = 0;
for (const name of ['index.html', ...readdirSync(path.join(BUILD, 'assets')).map((f) => `assets/${f}`)]) {
  const body = readFileSync(path.join(BUILD, name));
  raw += body.length;
  gzip += gzipSync(body).length;
  console.log(`${name.padEnd(32)} ${(body.length / 1024).toFixed(1).padStart(7)} KB  gzip ${(gzipSync(body).length / 1024).toFixed(1).padStart(6)} KB`);
}
console.log(`bundle total: ${(raw / 1024).toFixed(1)} KB, gzip ${(gzip / 1024).toFixed(1)} KB (goal < 300 KB gzip: ${gzip < 300 * 1024 ? 'met' : 'not met'})`);

const h = await startHarness(testEngines()[0]!, { MAILERDASH_UI_DIR: BUILD });
const base = await h.app.listen({ port: 0, host: '127.0.0.1' });
const profile = mkdtempSync(path.join(tmpdir(), 'mailerdash-bench-ui-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] ?? (await context.newPage());
const cdp = await context.newCDPSession(page);

async function firstInteractive(): Promise<number> {
  await page.goto(`${base}/ui/`);
  await page.waitForFunction(() => {
    const button = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Sign in');
    return button && !(button as HTMLButtonElement).disabled;
  });
  return page.evaluate(() => performance.now());
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cold: number[] = [];
const warm: number[] = [];
for (let i = 0; i < RUNS; i++) {
  await cdp.send('Network.clearBrowserCache');
  cold.push(await firstInteractive());
  warm.push(await firstInteractive());
}
await context.close();
await h.close();
rmSync(profile, { recursive: true, force: true });
for (const [name, xs] of [['cold cache', cold], ['warm cache', warm]] as const) {
  console.log(`first page interactive, ${name}: median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms over ${RUNS} runs (goal < 1000 ms: ${median(xs) < 1000 ? 'met' : 'not met'})`);
}
