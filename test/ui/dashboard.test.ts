import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { describeEachEngine } from '../support/engines.ts';
import { startHarness, type Harness } from '../support/harness.ts';

// End to end in Debian's Chromium (apt-get install chromium) against the real build of ui/ (npm ci makes it).
const CHROMIUM = '/usr/bin/chromium';
const BUILD = fileURLToPath(new URL('../../dist/ui', import.meta.url));
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Rows of the imported CSV (the size). */
const CONTACTS = 1000;
const chromiumMissing = existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium): the browser test is skipped`;

describeEachEngine('dashboard in the browser', (engine) => {
  let h: Harness;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let profile: string;
  const violations: string[] = [];

  before(async () => {
    if (chromiumMissing) return;
    assert.ok(existsSync(path.join(BUILD, 'index.html')), `no dashboard build in ${BUILD}: run npm run build`);
    h = await startHarness(engine, { MAILERDASH_UI_DIR: BUILD });
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    profile = mkdtempSync(path.join(tmpdir(), 'mailerdash-chromium-'));
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (/Content.Security.Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
  });
  after(async () => {
    await context?.close();
    await h?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('signs in, creates a list, a template (with its preview) and a campaign, sends it and watches its statistics, finds a message in the log, imports a CSV, removes a suppression, sees the overview', { skip: chromiumMissing }, async () => {
    const key = await h.newKey('marketing', ['tu-dominio.com']);
    const members = ['ana@example.com', 'ben@example.com', 'cai@example.com'];
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API key').fill('md_wrong_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'unknown or revoked' }).waitFor();
    await page.getByLabel('API key').fill(key.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // This branch has no GET /v1/stats: the overview says so instead of failing.
    await page.getByText('Deliverability statistics are not available').waitFor();
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === 'mailerdash_session');
    assert.ok(session?.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
    assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is not readable by script');

    await page.getByRole('link', { name: 'Lists' }).click();
    await page.getByLabel('New list name').fill('Newsletter');
    await page.getByRole('button', { name: 'Create list' }).click();
    await page.getByRole('link', { name: 'Newsletter' }).waitFor();

    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByText('New template').click();
    const form = page.getByRole('form', { name: 'New template' });
    await form.getByLabel('Name').fill('Welcome');
    await form.getByLabel('Subject').fill('Hello {{name}}');
    await form.getByLabel('HTML').fill('<p>Hi {{name}}, welcome.</p>');
    await form.getByRole('button', { name: 'Create template' }).click();
    await page.getByRole('heading', { name: 'Template' }).waitFor();
    await page.locator('[data-preview-subject]').filter({ hasText: 'Hello Ada' }).waitFor();
    await page.getByRole('button', { name: 'Text' }).click();
    await page.getByText('No text part.').waitFor();

    await page.getByRole('link', { name: 'Campaigns' }).click();
    await page.getByText('New campaign').click();
    const campaign = page.getByRole('form', { name: 'New campaign' });
    await campaign.getByLabel('Name', { exact: true }).fill('December news');
    await campaign.getByLabel('From address').fill('news@tu-dominio.com');
    await campaign.getByRole('button', { name: 'Create draft' }).click();
    await page.getByRole('heading', { name: 'Campaign' }).waitFor();
    await page.getByText('December news').waitFor();
    await page.locator('[data-stat="recipients"]').filter({ hasText: '0' }).waitFor();

    const stored = await h.call({ method: 'GET', url: '/v1/bulk/campaigns', auth: key.secret });
    assert.deepEqual(
      stored.json().data.map((c: { name: string; status: string; from_email: string }) => [c.name, c.status, c.from_email]),
      [['December news', 'draft', 'news@tu-dominio.com']],
    );

    // Sending (confirmed) into the outbox transport; the page's live statistics follow the workers.
    const listId = (await h.call({ method: 'GET', url: '/v1/bulk/lists', auth: key.secret })).json().data[0].id as string;
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/lists/${listId}/contacts`, payload: { emails: members }, auth: key.secret })).statusCode, 207);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Send now' }).click();
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await h.workers.drain();
    await page.locator('[data-stat="sent"]').filter({ hasText: String(members.length) }).waitFor({ timeout: 15_000 });

    // The message log finds one of them by recipient, with its timeline and last reply.
    await page.getByRole('link', { name: 'Messages' }).click();
    await page.getByLabel('Recipient').fill('ben@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'ben@example.com' }).click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    await page.locator('.timeline').getByText('sent', { exact: true }).waitFor();

    // A CSV of CONTACTS rows through the import form (its upload progress, then the 207 summary).
    await page.getByRole('link', { name: 'Contacts' }).click();
    await page.getByText('Import CSV').click();
    const csv = ['email,name,plan', ...Array.from({ length: CONTACTS }, (_, i) => `c${i}@example.com,Contact ${i},pro`)].join('\n');
    await page.getByLabel('CSV file').setInputFiles({ name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.locator('[data-import-result]').filter({ hasText: `${CONTACTS} created, 0 updated, 0 failed` }).waitFor();
    await page.getByText(`1–50 of ${CONTACTS + members.length}`).waitFor(); // with the campaign's list members

    // Removing a suppression asks first, then the entry is gone from the API too.
    await h.call({ method: 'POST', url: '/v1/suppressions', payload: { email: 'gone@example.com' }, auth: key.secret });
    await page.getByRole('link', { name: 'Suppressions' }).click();
    await page.getByRole('cell', { name: 'gone@example.com' }).waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('No suppressed addresses.').waitFor();
    assert.equal((await h.call({ method: 'GET', url: '/v1/suppressions/gone%40example.com', auth: key.secret })).statusCode, 404);

    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    await page.getByText('No bounced or failed messages.').waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal((await context.cookies(base)).some((c) => c.name === 'mailerdash_session'), false);
    assert.deepEqual(violations, []);
  });
});
