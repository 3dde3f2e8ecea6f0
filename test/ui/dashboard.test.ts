import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { SEND_ZONE, clone } from '../../src/modules/send/test-fixtures.ts';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.ts';
import { describeEachEngine } from '../support/engines.ts';
import { ADMIN_SECRET, startHarness, type Harness } from '../support/harness.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

// End to end in Debian's Chromium (apt-get install chromium) against the real build of ui/ (npm ci makes it).
const CHROMIUM = '/usr/bin/chromium';
const BUILD = fileURLToPath(new URL('../../dist/ui', import.meta.url));
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Rows of the imported CSV (the size). */
const CONTACTS = 1000;
/** axe-core's browser build, evaluated in the page (through the devtools protocol, so the strict CSP does not stop it). */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const chromiumMissing = existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium): the browser test is skipped`;

describeEachEngine('dashboard in the browser', (engine) => {
  let h: Harness;
  let dns: TestDnsServer;
  let receiver: WebhookReceiver;
  let sink: SmtpSink;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let profile: string;
  const violations: string[] = [];
  const inaccessible: string[] = [];

  /** Serious and critical axe-core violations of the page as it is now, kept for one assertion at the end. */
  async function axe(name: string) {
    const found = await page.evaluate(async (source) => {
      if (!('axe' in window)) (0, eval)(source);
      const result = await (window as unknown as { axe: { run: (n: Document, o: object) => Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: unknown }> }> }> } }).axe.run(document, { resultTypes: ['violations'] });
      return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
    }, AXE);
    inaccessible.push(...found.map((v) => `${name}: ${v}`));
  }

  before(async () => {
    if (chromiumMissing) return;
    assert.ok(existsSync(path.join(BUILD, 'index.html')), `no dashboard build in ${BUILD}: run npm run build`);
    // Loopback DNS for the batch's MX pre-check, a loopback receiver for the webhook.
    dns = await startDnsServer(clone(SEND_ZONE));
    receiver = await startWebhookReceiver();
    // A real SMTP relay on loopback that refuses gone@… with a 550, so the log has a bounce to find.
    sink = await startSmtpSink({ onRecipient: (address) => (address.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : null) });
    h = await startHarness(engine, { MAILERDASH_SMTP_URL: sink.url(), MAILERDASH_UI_DIR: BUILD, MAILERDASH_DNS_SERVERS: dns.address, MAILERDASH_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
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
    await receiver?.close();
    await sink?.close();
    await dns?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('signs in, creates a list, a template (with its preview) and a campaign, sends it and watches its statistics, finds a message in the log, imports a CSV, removes a suppression, sees the overview with the sends, submits and follows a batch, adds a sequence step and pauses a subscriber, adds a domain and a webhook, switches keys as admin', { skip: chromiumMissing }, async () => {
    const key = await h.newKey('marketing', ['tu-dominio.com']);
    const members = ['ana@example.com', 'ben@example.com', 'cai@example.com'];
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API key').fill('md_wrong_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'unknown or revoked' }).waitFor();
    await page.getByLabel('API key').fill(key.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // Nothing sent yet: zero totals from GET /v1/stats, no chart.
    await page.getByTestId('total-sent').filter({ hasText: /^0$/ }).waitFor();
    await page.getByText('No mail in this range.').waitFor();
    await axe('sign-in → overview');
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
    assert.equal((await h.call({ method: 'POST', url: `/v1/bulk/lists/${listId}/contacts`, payload: { emails: [...members, 'gone@example.com'] }, auth: key.secret })).statusCode, 207);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Send now' }).click();
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await h.workers.drain();
    await page.locator('[data-stat="sent"]').filter({ hasText: String(members.length) }).waitFor({ timeout: 15_000 });
    await axe('campaign');

    // The message log finds one of them by recipient, with its timeline and last reply.
    await page.getByRole('link', { name: 'Messages' }).click();
    await page.getByLabel('Recipient').fill('ben@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'ben@example.com' }).click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    await page.locator('.timeline').getByText('sent', { exact: true }).waitFor();
    // The refused one, filtered by status bounced, with the relay's 550 reply.
    await page.getByRole('link', { name: 'Messages', exact: true }).click();
    await page.getByLabel('Status').selectOption('bounced');
    await page.getByRole('button', { name: 'Search' }).click();
    const bounced = page.getByRole('row').filter({ hasText: 'gone@example.com' });
    await bounced.locator('.badge').filter({ hasText: 'bounced' }).waitFor();
    await bounced.getByText(/550.*no such user/).waitFor();
    // The unfiltered list may still be shown until the filtered answer arrives: wait for the delivered one to go.
    await page.getByRole('row').filter({ hasText: 'ben@example.com' }).first().waitFor({ state: 'detached' });
    assert.equal(await page.getByRole('row').filter({ hasText: 'ben@example.com' }).count(), 0, 'only bounced messages are listed');
    await axe('messages');

    // A CSV of CONTACTS rows through the import form (its upload progress, then the 207 summary).
    await page.getByRole('link', { name: 'Contacts' }).click();
    await page.getByText('Import CSV').click();
    const csv = ['email,name,plan', ...Array.from({ length: CONTACTS }, (_, i) => `c${i}@example.com,Contact ${i},pro`)].join('\n');
    await page.getByLabel('CSV file').setInputFiles({ name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.locator('[data-import-result]').filter({ hasText: `${CONTACTS} created, 0 updated, 0 failed` }).waitFor();
    await page.getByText(`1–50 of ${CONTACTS + members.length + 1}`).waitFor(); // with the campaign's list members
    await axe('contacts');

    // Removing a suppression asks first, then the entry is gone from the API too.
    await h.call({ method: 'POST', url: '/v1/suppressions', payload: { email: 'gone@example.com' }, auth: key.secret });
    await page.getByRole('link', { name: 'Suppressions' }).click();
    await page.getByRole('cell', { name: 'gone@example.com' }).waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('No suppressed addresses.').waitFor();
    assert.equal((await h.call({ method: 'GET', url: '/v1/suppressions/gone%40example.com', auth: key.secret })).statusCode, 404);

    // The overview from the aggregates: the campaign's sends in the totals and in the chart's series.
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByTestId('total-sent').filter({ hasText: new RegExp(`^${members.length}$`) }).waitFor();
    const chart = page.getByTestId('time-chart');
    await chart.locator('canvas').waitFor();
    // One point per day of the last 7, whole days (7 or 8 points as the range meets day boundaries).
    assert.ok(Number(await chart.getAttribute('data-points')) >= 7, String(await chart.getAttribute('data-points')));
    assert.match((await chart.getAttribute('data-sums')) ?? '', new RegExp(`(^| )sent=${members.length}( |$)`));
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    await page.getByText('gone@example.com').first().waitFor(); // among the recent problems
    await axe('overview');

    await batchPage(key.secret);
    await canaryApproval(key.secret);
    await sequencePage(key.secret);
    await domainsPage();
    await webhooksPage();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal((await context.cookies(base)).some((c) => c.name === 'mailerdash_session'), false);

    await adminKeys(key.id);
    assert.deepEqual(violations, []);
    assert.deepEqual(inaccessible, [], 'serious or critical axe-core violations');
  });

  /** A batch submitted through the page's form (pasted CSV): its page follows it to completed and offers the outcome export. */
  async function batchPage(secret: string) {
    await page.getByRole('link', { name: 'Batches' }).click();
    await page.getByText('Submit a batch').click();
    const form = page.getByRole('form', { name: 'New batch' });
    await form.getByLabel('Recipients').fill('email,name,plan\ndia@example.com,Dia,pro\n"eli@example.com","Eli, Jr.",free\nnobody@null-mx.example,,');
    await form.getByLabel('From address').fill('news@tu-dominio.com');
    await form.getByLabel('Subject').fill('Hola {{name}}');
    await form.getByLabel('Text').fill('Hola {{name}}, plan {{plan}}.');
    await form.getByRole('button', { name: 'Submit batch' }).click();
    await page.waitForURL(/\/ui\/batches\/batch_/);
    await page.getByRole('heading', { name: 'Batch', exact: true }).waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/')[3]!);
    const stored = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: secret })).json();
    assert.deepEqual([stored.counts.submitted, stored.counts.accepted, stored.counts.rejected], [3, 2, 1], JSON.stringify(stored.counts));
    await page.getByText('0 of 2').waitFor();
    await h.workers.drain();
    // The page hears batch.completed over its event stream and reloads.
    await page.getByText('2 of 2').waitFor();
    await page.locator('.badge').filter({ hasText: 'completed' }).waitFor();
    const href = (await page.getByRole('link', { name: 'Export outcomes (CSV)' }).getAttribute('href'))!;
    const csv = await page.evaluate(async (url) => (await fetch(url, { credentials: 'same-origin' })).text(), href);
    assert.equal(csv.trim().split('\n').length, 1 + 3, csv);
    assert.match(csv, /dia@example\.com.*sent/);
    assert.match(csv, /nobody@null-mx\.example.*no_mx/);
  }

  /** A batch held after its 5 % canary (made through the API): awaiting approval on its page, approved (confirmed), then completed. */
  async function canaryApproval(secret: string) {
    const recipients = Array.from({ length: 20 }, (_, i) => ({ email: `canary${i}@example.com` }));
    const payload = { from: { email: 'news@tu-dominio.com' }, subject: 'Canary', content: [{ type: 'text/plain', value: 'Hola' }], recipients, canary: { percent: 5, hold: true } };
    const res = await h.call({ method: 'POST', url: '/v1/batches', payload, auth: secret });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id as string;
    await h.workers.drain();
    await page.getByRole('link', { name: 'Batches', exact: true }).click();
    await page.getByRole('link', { name: id }).waitFor();
    await axe('batches');
    await page.getByRole('link', { name: id }).click();
    await page.locator('.badge').filter({ hasText: 'awaiting_approval' }).waitFor();
    await axe('batch');
    const dialog = new Promise<string>((resolve) => page.once('dialog', (d) => { resolve(d.message()); void d.accept(); }));
    // The workers drain only once the page's approval has been answered, else they could find nothing to do.
    const approved = page.waitForResponse((r) => r.url().includes(`/v1/batches/${id}/approve`) && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Approve the rest' }).click();
    assert.match(await dialog, /send to every other recipient/);
    assert.ok((await approved).ok(), 'the approval is accepted');
    await h.workers.drain();
    await page.locator('.badge').filter({ hasText: 'completed' }).waitFor();
    await page.getByText('20 of 20').waitFor();
    const done = (await h.call({ method: 'GET', url: `/v1/batches/${id}`, auth: secret })).json();
    assert.deepEqual([done.status, done.counts.sent], ['completed', 20]);
  }

  /** A sequence with a step and a subscriber made through the API; the page shows both, pauses and resumes. */
  async function sequencePage(secret: string) {
    const call = (method: 'POST' | 'PATCH', url: string, payload: object) => h.call({ method, url, payload, auth: secret });
    const sequence = (await call('POST', '/v1/bulk/sequences', { name: 'Onboarding' })).json();
    const step = await call('POST', `/v1/bulk/sequences/${sequence.id}/steps`, { position: 1, offset_seconds: 3600, subject: 'Welcome aboard', body_text: 'Hi {{name}}', from_email: 'news@tu-dominio.com' });
    assert.equal(step.statusCode, 201, step.body);
    assert.equal((await call('PATCH', `/v1/bulk/sequences/${sequence.id}`, { status: 'active' })).statusCode, 200);
    assert.equal((await call('POST', `/v1/bulk/sequences/${sequence.id}/subscribers`, { email: 'fay@example.com' })).statusCode, 201);
    await page.getByRole('link', { name: 'Sequences' }).click();
    await page.getByRole('link', { name: 'Onboarding' }).click();
    const steps = page.getByRole('list', { name: 'Steps' });
    await steps.getByText('after 1 h: Welcome aboard').waitFor();
    // A second step through the form: the template made above, two days after the first.
    await page.getByText('Add a step').click();
    const form = page.getByRole('form', { name: 'New step' });
    assert.equal(await form.getByLabel('Position').inputValue(), '2');
    assert.equal(await form.getByLabel('From address').inputValue(), 'news@tu-dominio.com', "the last step's sender");
    await form.getByLabel('Wait').fill('2');
    await form.getByLabel('Unit').selectOption('days');
    await form.getByLabel('Template').selectOption({ label: 'Welcome' });
    await form.getByRole('button', { name: 'Add step' }).click();
    await steps.getByText(/Step 2 after 2 d: template /).waitFor();
    const added = (await h.call({ method: 'GET', url: `/v1/bulk/sequences/${sequence.id}`, auth: secret })).json().steps[1];
    assert.deepEqual([added.position, added.offset_seconds, added.subject, added.from_email], [2, 2 * 86400, null, 'news@tu-dominio.com']);
    assert.match(added.template_id, /^welcome/);
    const row = page.getByRole('row').filter({ hasText: 'fay@example.com' });
    await row.locator('.badge').filter({ hasText: 'active' }).waitFor();
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.locator('.badge').filter({ hasText: 'paused' }).waitFor();
    const subscriber = async () => (await h.call({ method: 'GET', url: `/v1/bulk/sequences/${sequence.id}/subscribers`, auth: secret })).json().data[0].status;
    assert.equal(await subscriber(), 'paused');
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.locator('.badge').filter({ hasText: 'active' }).waitFor();
    assert.equal(await subscriber(), 'active');
  }

  /** A domain added through the page shows the DNS records to publish. */
  async function domainsPage() {
    await page.getByRole('link', { name: 'Domains' }).click();
    await page.getByRole('textbox', { name: 'Sending domain' }).fill('mail.example.org');
    await page.getByRole('button', { name: 'Add domain' }).click();
    const records = page.getByRole('table', { name: 'DNS records to publish for mail.example.org' });
    for (const purpose of ['spf', 'dkim', 'dmarc']) await records.getByRole('cell', { name: purpose, exact: true }).waitFor();
    await records.getByRole('cell').filter({ hasText: 'v=DKIM1; k=rsa; p=' }).waitFor();
  }

  /** An endpoint created through the page, a test event to the loopback receiver, its delivery in the log. */
  async function webhooksPage() {
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('New endpoint').click();
    const form = page.getByRole('form', { name: 'New webhook endpoint' });
    await form.getByLabel('URL').fill(receiver.url('/dashboard'));
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('status').filter({ hasText: 'Signing secret (shown once)' }).waitFor();
    await page.getByRole('link', { name: receiver.url('/dashboard') }).click();
    await page.getByRole('button', { name: 'Send a test event' }).click();
    await page.getByRole('cell', { name: 'webhook.test' }).waitFor();
    await h.workers.drain();
    const hooks = await receiver.waitFor(1);
    assert.ok(hooks.some((hook) => hook.path === '/dashboard' && hook.body.includes('webhook.test')), JSON.stringify(hooks.map((hook) => hook.body)));
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: 'webhook.test' });
    await row.locator('.badge').filter({ hasText: 'delivered' }).waitFor();
    await row.getByRole('cell', { name: '200' }).waitFor();
  }

  /** The admin key sees every key; the switcher narrows every page to one key's data. */
  async function adminKeys(marketingId: string) {
    await h.newKey('support');
    await page.getByLabel('API key').fill(ADMIN_SECRET);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('(admin)').waitFor();
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('cell', { name: marketingId }).waitFor();
    await page.getByRole('cell', { name: 'support', exact: true }).waitFor();
    const switcher = page.getByLabel('Showing data of');
    await page.getByRole('link', { name: 'Lists' }).click();
    await page.getByRole('link', { name: 'Newsletter' }).waitFor(); // every key's
    await switcher.selectOption({ label: `marketing (${marketingId})` });
    await page.getByRole('link', { name: 'Newsletter' }).waitFor();
    const support = (await switcher.locator('option', { hasText: 'support' }).getAttribute('value'))!;
    await switcher.selectOption(support);
    await page.getByText('No lists yet.').waitFor();
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByTestId('total-sent').filter({ hasText: /^0$/ }).waitFor();
    await switcher.selectOption({ label: `marketing (${marketingId})` });
    await page.getByTestId('total-sent').filter({ hasText: /^25$/ }).waitFor(); // the campaign's 3, the batch's 2 and the canary batch's 20
  }
});
