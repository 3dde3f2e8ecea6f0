import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { newId } from '../../lib/ids.ts';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { createLinkSigner } from './links.ts';

describeEachEngine('tracking links and unsubscribe', (engine) => {
  let h: Harness;
  let keyId: string;
  let contentId: string;

  async function message(to: string, campaignId: string | null = null): Promise<string> {
    const id = newId('msg');
    await h.database.db
      .insertInto('messages')
      .values({ id, key_id: keyId, content_id: contentId, channel: 'bulk', lane: 1, status: 'sent', to_email: to, to_name: null, campaign_id: campaignId })
      .execute();
    return id;
  }
  const path = (url: string) => url.replace(h.config.publicUrl, '');
  const events = async (id: string) =>
    (await h.database.db.selectFrom('message_events').select('type').where('message_id', '=', id).orderBy('id').execute()).map((e) => e.type);
  const suppression = (email: string) => h.database.db.selectFrom('suppressions').selectAll().where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst();

  before(async () => {
    h = await startHarness(engine, { MAILERDASH_PUBLIC_URL: 'https://links.example.net/', MAILERDASH_BOUNCE_DOMAIN: 'bounce.example.net' });
    keyId = (await h.newKey('alice', ['alice.example'])).id;
    contentId = newId('mc');
    await h.database.db
      .insertInto('message_contents')
      .values({ id: contentId, key_id: keyId, from_email: 'news@alice.example', from_name: 'Alice News', reply_to: 'null', subject: 'Hi', html: '<p>hi</p>', text: 'hi' })
      .execute();
    await h.context.services.links.ready();
  });
  after(() => h.close());

  it('builds https and mailto links on the configured public URL and bounce domain', async () => {
    const links = h.context.services.links;
    assert.match(links.unsubscribeUrl('msg_a'), /^https:\/\/links\.example\.net\/u\/msg_a\.[0-9a-f]{24}$/);
    assert.match(links.unsubscribeMailto('msg_a'), /^mailto:unsubscribe\+msg_a\.[0-9a-f]{24}@bounce\.example\.net$/);
    // A second process on the same database shares the generated secret.
    const other = createLinkSigner({ db: h.database.db, publicUrl: 'https://links.example.net', bounceDomain: 'x', secret: null });
    await other.ready();
    assert.equal(other.unsubscribeUrl('msg_a'), links.unsubscribeUrl('msg_a'));
    const configured = createLinkSigner({ db: h.database.db, publicUrl: 'https://links.example.net', bounceDomain: 'x', secret: 'c'.repeat(32) });
    assert.notEqual(configured.unsubscribeUrl('msg_a'), links.unsubscribeUrl('msg_a'));
  });

  it('GET shows a confirmation form and never unsubscribes', async () => {
    const id = await message('reader@example.com', 'camp_one');
    const url = path(h.context.services.links.unsubscribeUrl(id));
    for (let i = 0; i < 2; i++) {
      const res = await h.call({ method: 'GET', url, auth: null });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] as string, /text\/html/);
      assert.match(res.body, /<form method="post">/);
      assert.match(res.body, /name="List-Unsubscribe" value="One-Click"/);
    }
    assert.equal(await suppression('reader@example.com'), undefined);
    assert.deepEqual(await events(id), []);
  });

  it('a one-click POST (form-urlencoded) unsubscribes at once: 200, no redirect, suppression from the campaign, event', async () => {
    const id = await message('Reader@Example.com', 'camp_one');
    const url = path(h.context.services.links.unsubscribeUrl(id));
    const res = await h.call({ method: 'POST', url, auth: null, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.location, undefined);
    const entry = await suppression('reader@example.com');
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['unsubscribe', 'campaign', 'camp_one']);
    assert.deepEqual(await events(id), ['unsubscribed']);
    const again = await h.call({ method: 'POST', url, auth: null, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    assert.equal(again.statusCode, 200);
    assert.deepEqual(await events(id), ['unsubscribed']);
    const page = await h.call({ method: 'GET', url, auth: null });
    assert.match(page.body, /You are unsubscribed/);
  });

  it('a multipart one-click POST works too; a transactional message is the source when there is no campaign', async () => {
    const id = await message('multi@example.com');
    const boundary = 'XyZ123';
    const payload = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
    const res = await h.call({ method: 'POST', url: path(h.context.services.links.unsubscribeUrl(id)), auth: null, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    assert.equal(res.statusCode, 200);
    const entry = await suppression('multi@example.com');
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['unsubscribe', 'message', id]);
  });

  it('forged or altered tokens are 404 everywhere and change nothing', async () => {
    const id = await message('victim@example.com');
    const links = h.context.services.links;
    const good = path(links.unsubscribeUrl(id));
    const flipped = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
    const otherMessage = good.replace(id, newId('msg'));
    const wrongPurpose = path(links.openPixelUrl(id)).replace('/t/o/', '/u/');
    for (const url of [flipped, otherMessage, wrongPurpose, `/u/${id}`, '/u/garbage']) {
      const post = await h.call({ method: 'POST', url, auth: null, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
      assert.equal(post.statusCode, 404, url);
      assert.equal((await h.call({ method: 'GET', url, auth: null })).statusCode, 404, url);
    }
    const pixel = path(links.openPixelUrl(id));
    const alteredPixel = pixel.slice(0, -2) + (pixel.endsWith('ff') ? '00' : 'ff');
    assert.equal((await h.call({ method: 'GET', url: alteredPixel, auth: null })).statusCode, 404);
    assert.equal(await suppression('victim@example.com'), undefined);
    assert.deepEqual(await events(id), []);
  });

  it('the open pixel is a GIF and counts one unique open', async () => {
    const id = await message('opener@example.com');
    const url = path(h.context.services.links.openPixelUrl(id));
    for (let i = 0; i < 3; i++) {
      const res = await h.call({ method: 'GET', url, auth: null });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'image/gif');
      assert.equal(res.rawPayload.subarray(0, 6).toString(), 'GIF89a');
    }
    assert.deepEqual(await events(id), ['opened']);
  });

  it('a click redirects only to the URL the link was signed for, and counts once', async () => {
    const id = await message('clicker@example.com');
    const target = 'https://shop.example/item?id=7&ref=mail';
    const url = path(h.context.services.links.clickUrl(id, target));
    for (let i = 0; i < 2; i++) {
      const res = await h.call({ method: 'GET', url, auth: null });
      assert.equal(res.statusCode, 302);
      assert.equal(res.headers.location, target);
    }
    assert.deepEqual(await events(id), ['clicked']);
    const elsewhere = url.replace(encodeURIComponent(target), encodeURIComponent('https://evil.example/'));
    assert.equal((await h.call({ method: 'GET', url: elsewhere, auth: null })).statusCode, 404);
    const script = path(h.context.services.links.clickUrl(id, 'javascript:alert(1)'));
    assert.equal((await h.call({ method: 'GET', url: script, auth: null })).statusCode, 404);
  });
});
