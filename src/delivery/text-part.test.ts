import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileTemplate } from '../lib/liquid.ts';
import { compileContent, composeMessage } from './compose.ts';
import { renderSevenBit, sevenBitForm } from './text-part.ts';

const form = (source: string) => sevenBitForm(compileTemplate(source, 'html'));

describe('7bit text parts', () => {
  it('renders CRLF text with escaped values', () => {
    const f = form('<p>Hi {{ name }}</p>\n<p>{{ plan.name }} plan</p>\n')!;
    assert.equal(renderSevenBit(f, { name: 'Ann & Bo', plan: { name: 'Pro' } }, true), '<p>Hi Ann &amp; Bo</p>\r\n<p>Pro plan</p>\r\n');
  });

  it('leaves to the general encoder what 7bit cannot carry', () => {
    const f = form(`Hello {{ name }}\n${'x'.repeat(900)} {{ city }} end`)!;
    assert.equal(typeof renderSevenBit(f, { name: 'Ann', city: 'Rome' }, false), 'string');
    assert.equal(renderSevenBit(f, { name: 'Ann', city: 'y'.repeat(100) }, false), undefined, 'a line over 998');
    assert.equal(renderSevenBit(f, { name: 'Zoë', city: 'Rome' }, false), undefined, 'not ASCII');
    assert.equal(renderSevenBit(f, { name: 'Ann\nBo', city: 'Rome' }, false), undefined, 'a line break in a value');
    assert.equal(renderSevenBit(f, { name: { first: 'Ann' }, city: 'Rome' }, false), undefined, 'only the engine prints objects');
    assert.equal(form('Grüße {{ name }}'), null);
    assert.equal(form(`${'x'.repeat(999)}\n{{ name }}`), null);
    assert.equal(form('{% if a %}x{% endif %}'), null);
  });

  it('composes the same message as the general encoder', () => {
    const content = compileContent({
      id: 'mc_1', from_email: 'news@example.test', from_name: 'News', reply_to: null, subject: 'Hi {{ name }}',
      html: '<h1>Hello {{ name }}</h1>\n<p>Plan: {{ metadata.plan }}</p>\n<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
      text: 'Hello {{ name }},\nPlan: {{ metadata.plan }}\n\nUnsubscribe: {{ unsubscribe_url }}\n',
      headers: {}, attachments: [], settings: { liquid: true, list_unsubscribe: true },
    });
    assert.ok(content.sevenBit.html && content.sevenBit.text);
    const general = { ...content, sevenBit: { html: null, text: null } };
    const links = { unsubscribeUrl: (id: string) => `https://l.test/u/${id}`, unsubscribeMailto: (id: string) => `mailto:u+${id}@b.test`, returnPath: (id: string) => `b-${id}@b.test`, openPixelUrl: () => '', clickUrl: () => '' };
    for (const name of ['Ann', 'Zoë', 'x'.repeat(1200), 'A & <B>']) {
      const message = { id: 'msg_1', channel: 'bulk' as const, to_email: 'a@r.test', to_name: name, personalization: { variables: { name, metadata: { plan: 'pro' } } } };
      const options = { hostname: 'mta.test', links, date: 'Mon, 30 Nov 2026 04:00:00 +0000' };
      const fast = composeMessage(content, message, options);
      const slow = composeMessage(general, message, options);
      assert.equal(fast.headers, slow.headers);
      assert.equal(fast.body.headers, slow.body.headers);
      assert.equal(Buffer.concat(fast.body.parts).toString('latin1'), Buffer.concat(slow.body.parts).toString('latin1'), name);
    }
  });
});
