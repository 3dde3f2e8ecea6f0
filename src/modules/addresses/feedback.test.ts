import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachEngine } from '../../../test/support/engines.ts';
import { startHarness, type Harness } from '../../../test/support/harness.ts';
import { newId } from '../../lib/ids.ts';
import { applyFeedback } from './feedback.ts';

// applyFeedback as the provider webhooks will call it: reports with a message id, no mail involved.
describeEachEngine('applyFeedback', (engine) => {
  let h: Harness;
  let keyId: string;
  let otherKey: string;
  let contentId: string;
  const now = new Date('2026-12-01T12:00:00Z');
  const db = () => h.database.db;

  async function sent(email: string): Promise<string> {
    const id = newId('msg');
    await db().insertInto('messages').values({ id, key_id: keyId, content_id: contentId, channel: 'trans', lane: 0, status: 'sent', to_email: email, to_name: null }).execute();
    return id;
  }
  const suppression = (email: string) => db().selectFrom('suppressions').selectAll().where('key_id', '=', keyId).where('email', '=', email).executeTakeFirst();
  const events = (id: string) => db().selectFrom('message_events').select('type').where('message_id', '=', id).orderBy('id').execute().then((r) => r.map((e) => e.type));

  before(async () => {
    h = await startHarness(engine);
    keyId = (await h.newKey('shop', ['shop.test'])).id;
    otherKey = (await h.newKey('other', ['other.test'])).id;
    contentId = newId('mc');
    await db().insertInto('message_contents').values({ id: contentId, key_id: keyId, from_email: 'a@shop.test', from_name: null, reply_to: 'null', subject: 'Hi', html: null, text: 'hi' }).execute();
    await db().insertInto('contacts').values({ key_id: keyId, email: 'ses@rcpt.test', name: null, metadata: '{}' }).execute();
  });
  after(() => h.close());

  it('a provider hard bounce: bounced once, however often it is applied; suppression source is the provider', async () => {
    const id = await sent('ses@rcpt.test');
    const report = { messageId: id, kind: 'hard_bounce' as const, reason: 'mailbox_unknown', status: '5.1.1', diagnostic: '550 5.1.1 no such user', source: 'ses' as const };
    assert.deepEqual(await applyFeedback(db(), [report, report], now), [
      { messageId: id, keyId, effect: 'bounced' },
      { messageId: id, keyId, effect: 'bounced' },
    ]);
    assert.deepEqual(await events(id), ['bounced']);
    const entry = await suppression('ses@rcpt.test');
    assert.deepEqual([entry?.reason, entry?.source_type, entry?.source_id], ['bounce', 'ses', id]);
    const contact = await db().selectFrom('contacts').select('status').where('email', '=', 'ses@rcpt.test').executeTakeFirstOrThrow();
    assert.equal(contact.status, 'bounced');
  });

  it('changes nothing for an unknown message, another key, an auto-reply or an unknown kind', async () => {
    const id = await sent('quiet@rcpt.test');
    const outcomes = await applyFeedback(
      db(),
      [
        { messageId: 'msg_doesnotexist000000', kind: 'hard_bounce', source: 'sendgrid' },
        { messageId: id, keyId: otherKey, kind: 'hard_bounce', source: 'sendgrid' },
        { messageId: null, kind: 'complaint', source: 'mailgun' },
        { messageId: id, kind: 'auto_reply', source: 'dsn' },
        { messageId: id, kind: 'unknown', source: 'dsn' },
      ],
      now,
    );
    assert.deepEqual(outcomes.map((o) => o.effect), ['unmatched', 'unmatched', 'unmatched', 'ignored', 'ignored']);
    assert.equal(await suppression('quiet@rcpt.test'), undefined);
    assert.deepEqual(await events(id), []);
    assert.equal((await db().selectFrom('messages').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status, 'sent');
  });

  it('soft bounces count once per message; the fifth in seven days bounces the address, an older one does not count', async () => {
    const email = 'full@rcpt.test';
    const soft = (messageId: string) => ({ messageId, kind: 'soft_bounce' as const, reason: 'mailbox_full', source: 'postmark' as const });
    const old = await sent(email);
    await applyFeedback(db(), [soft(old)], new Date(now.getTime() - 8 * 86_400_000));
    const ids = [await sent(email), await sent(email), await sent(email), await sent(email)];
    const outcomes = await applyFeedback(db(), [soft(ids[0]!), soft(ids[0]!), soft(ids[1]!), soft(ids[2]!)], now);
    assert.deepEqual(outcomes.map((o) => o.effect), ['soft_bounce', 'soft_bounce', 'soft_bounce', 'soft_bounce']);
    assert.equal(await suppression(email), undefined);
    assert.deepEqual((await applyFeedback(db(), [soft(ids[3]!)], now)).map((o) => o.effect), ['soft_bounce']);
    const fifth = await sent(email);
    assert.deepEqual((await applyFeedback(db(), [soft(fifth)], now)).map((o) => o.effect), ['bounced']);
    const entry = await suppression(email);
    assert.deepEqual([entry?.reason, entry?.source_id], ['bounce', fifth]);
  });

  it('a complaint and a delivery are recorded once per message', async () => {
    const id = await sent('spam@rcpt.test');
    await applyFeedback(db(), [{ messageId: id, kind: 'delivered', source: 'mailgun' }, { messageId: id, kind: 'delivered', source: 'mailgun' }], now);
    await applyFeedback(db(), [{ messageId: id, kind: 'complaint', source: 'mailgun', detail: { feedback_type: 'abuse' } }], now);
    await applyFeedback(db(), [{ messageId: id, kind: 'complaint', source: 'mailgun' }], now);
    assert.deepEqual(await events(id), ['delivered', 'complained']);
    assert.equal((await suppression('spam@rcpt.test'))?.reason, 'complaint');
  });
});
