// Screenshots of the dashboard's main pages for docs/screenshots (node --import tsx scripts/ui-screenshots.ts).
// The overview's chart reads the real GET /v1/stats: the campaign is sent into the outbox transport first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { testEngines } from '../test/support/engines.ts';
import { startHarness } from '../test/support/harness.ts';

const BUILD = fileURLToPath(new URL('../dist/ui', import.meta.url));
const OUT = fileURLToPath(new URL('../docs/screenshots', import.meta.url));
const h = await startHarness(testEngines()[0]!, { MAILERDASH_UI_DIR: BUILD });
const key = await h.newKey('marketing', ['tu-dominio.com']);
const call = (method: 'POST' | 'GET', url: string, payload?: unknown) => h.call({ method, url, payload: payload as never, auth: key.secret }).then((r) => r.json());
const list = await call('POST', '/v1/bulk/lists', { name: 'Newsletter' });
await h.call({ method: 'POST', url: '/v1/bulk/contacts/import', payload: ['email,name', ...Array.from({ length: 120 }, (_, i) => `reader${i}@example.com,Reader ${i}`)].join('\n'), headers: { 'content-type': 'text/csv' }, auth: key.secret });
await call('POST', `/v1/bulk/lists/${list.id}/contacts`, { emails: Array.from({ length: 120 }, (_, i) => `reader${i}@example.com`) });
const template = await call('POST', '/v1/bulk/templates', { name: 'Welcome', subject: 'Hello {{name}}', html: '<h1>Hi {{name}}</h1><p>Welcome to the newsletter.</p>', body_text: 'Hi {{name}}, welcome.' });
const campaign = await call('POST', '/v1/bulk/campaigns', { name: 'December news', list_id: list.id, template_id: template.id, from_email: 'news@tu-dominio.com' });
await call('POST', '/v1/suppressions', { emails: ['bounced@example.com', 'left@example.com'] });
await call('POST', `/v1/bulk/campaigns/${campaign.id}/send`);
await h.workers.drain();

const base = await h.app.listen({ port: 0, host: '127.0.0.1' });
const profile = mkdtempSync(path.join(tmpdir(), 'mailerdash-shots-'));
const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 800 }, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
const page = context.pages()[0] ?? (await context.newPage());
await page.goto(`${base}/ui/`);
await page.screenshot({ path: path.join(OUT, 'sign-in.png') });
await page.getByLabel('API key').fill(key.secret);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.getByRole('heading', { name: 'Overview' }).waitFor();
await page.getByRole('heading', { name: 'Queue' }).waitFor();
await page.getByTestId('time-chart').locator('canvas').waitFor();
await page.waitForTimeout(500); // the chart's first paint
await page.screenshot({ path: path.join(OUT, 'overview.png'), fullPage: true });
for (const [name, url, wait] of [
  ['contacts', '/ui/contacts', 'reader0@example.com'],
  ['template-editor', `/ui/templates/${template.id}`, 'Hello Ada'],
  ['campaign', `/ui/campaigns/${campaign.id}`, 'December news'],
  ['suppressions', '/ui/suppressions', 'bounced@example.com'],
] as const) {
  await page.goto(`${base}${url}`);
  await page.getByText(wait).first().waitFor();
  // Paint settles (the preview's sandboxed frame renders a moment after its subject line).
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
}
await page.setViewportSize({ width: 390, height: 844 });
await page.goto(`${base}/ui/contacts`);
await page.getByText('reader0@example.com').first().waitFor();
await page.screenshot({ path: path.join(OUT, 'contacts-phone.png') });
await context.close();
await h.close();
rmSync(profile, { recursive: true, force: true });
console.log(`screenshots in ${OUT}`);
