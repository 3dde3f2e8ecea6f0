import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { compileContent, composeMessage, rewriteLinks } from './compose.ts';
import { bodyHash, relaxedBody, relaxedHeader } from './dkim.ts';
import { dotStuff } from './smtp/connection.ts';
import { BASE64_LINE_BYTES, base64LinesBuffer, base64LinesWriter, encodedWords, encodeTextBody, formatAddress, htmlToText, quotedPrintable } from './mime-encoding.ts';

const content = {
  id: 'mc_1',
  from_email: 'news@example.test',
  from_name: 'Zoë, from Example',
  reply_to: { email: 'help@example.test', name: 'Help' },
  subject: 'Grüße, {{name}}',
  html: '<html><body><p>Hi -name-, see <a href="https://example.test/a?x=1&amp;y=2">this</a> and <a href="https://u.test/unsub">unsubscribe</a>.</p></body></html>',
  text: null,
  headers: { 'X-Campaign': 'spring', Subject: 'ignored duplicate' },
  attachments: [{ content: Buffer.from('a,b\n1,2\n').toString('base64'), filename: 'data.csv', type: 'text/csv', disposition: 'attachment' }],
  settings: {},
};

/** PostgreSQL's encode(bytes, 'base64'): lines of 76 characters joined by LF. */
const postgresBase64 = (bytes: Buffer) => bytes.toString('base64').replace(/.{76}(?=.)/g, '$&\n');

describe('MIME composition', () => {
  it('base64 lines written piece by piece equal the lines of the whole', () => {
    const piece = BASE64_LINE_BYTES * 2;
    for (const size of [0, 1, 56, 57, 58, piece, piece + 1, piece * 3 + 2]) {
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 31) & 0xff));
      const writer = base64LinesWriter(size);
      for (let at = 0; at < size; at += piece) writer.write(postgresBase64(bytes.subarray(at, at + piece)));
      assert.equal(writer.done().toString('latin1'), base64LinesBuffer(bytes.toString('base64')).toString('latin1'), `${size} bytes`);
    }
    const short = base64LinesWriter(10);
    short.write(postgresBase64(Buffer.alloc(3)));
    assert.throws(() => short.done(), /encoded to 4 of 16 bytes/);
  });

  it('quoted-printable keeps lines short and round-trips UTF-8', () => {
    const text = `${'é'.repeat(200)} end \nnext line`;
    const qp = quotedPrintable(text);
    for (const line of qp.split('\r\n')) assert.ok(line.length <= 76, line);
    assert.ok(!/ $/m.test(qp.replace(/\r\n/g, '\n')));
  });
  it('sends 7bit text as is with CRLF line ends; anything else quoted-printable', () => {
    assert.deepEqual(encodeTextBody('Hello\n\tworld\n'), { encoding: '7bit', body: 'Hello\r\n\tworld\r\n' });
    assert.deepEqual(encodeTextBody('Mixed\r\nends\rhere\n'), { encoding: '7bit', body: 'Mixed\r\nends\r\nhere\r\n' });
    assert.equal(encodeTextBody(`short\n${'x'.repeat(998)}\nshort`).encoding, '7bit');
    assert.equal(encodeTextBody(`short\n${'x'.repeat(999)}\nshort`).encoding, 'quoted-printable');
    assert.equal(encodeTextBody('x'.repeat(999)).encoding, 'quoted-printable');
    assert.equal(encodeTextBody('Grüße\n').encoding, 'quoted-printable');
    assert.equal(encodeTextBody('bell\x07\n').encoding, 'quoted-printable');
  });
  it('encodes non-ASCII display names and quotes specials', () => {
    assert.equal(formatAddress({ email: 'a@b.test', name: 'A. Smith' }), '"A. Smith" <a@b.test>');
    assert.match(formatAddress({ email: 'a@b.test', name: 'Zoë' }), /^=\?UTF-8\?B\?[^?]+\?= <a@b\.test>$/);
    assert.equal(formatAddress({ email: 'a@bücher.test' }), 'a@xn--bcher-kva.test');
    assert.ok(encodedWords('ü'.repeat(100)).split('\r\n ').every((w) => w.length <= 75));
  });
  it('derives a text part from HTML with link targets', () => {
    assert.equal(htmlToText('<p>Hello &amp; <b>welcome</b></p><p><a href="https://x.test/">Go</a></p>'), 'Hello & welcome\n\nGo (https://x.test/)');
  });
  it('dot-stuffs lines that start with a dot', () => {
    assert.equal(dotStuff(Buffer.from('.a\r\n.b\r\nc')).toString(), '..a\r\n..b\r\nc');
    const plain = Buffer.from('no dots\r\n');
    assert.equal(dotStuff(plain), plain);
  });
  it('builds text + HTML alternatives, attachments, custom headers, and parses back', async () => {
    const compiled = compileContent({ ...content, subject: 'Grüße' });
    assert.ok(compiled.staticBody, 'a body without Liquid or tracking is built once');
    const composed = composeMessage(compiled, { id: 'msg_1', channel: 'trans', to_email: 'to@example.test', to_name: 'To Person', personalization: { cc: [{ email: 'cc@example.test' }], substitutions: { '-name-': 'Ann' }, headers: { 'X-Per': 'one' } } }, { hostname: 'mta.test', date: 'Sun, 22 Nov 2026 10:00:00 +0000' });
    const raw = Buffer.concat([Buffer.from(composed.headers), Buffer.from('\r\n'), ...composed.body.parts]);
    for (const line of raw.toString('latin1').split('\r\n')) assert.ok(line.length <= 998);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.subject, 'Grüße');
    assert.equal(parsed.from?.value[0]?.name, 'Zoë, from Example');
    assert.equal((parsed.to as any).value[0].address, 'to@example.test');
    assert.equal((parsed.cc as any).value[0].address, 'cc@example.test');
    assert.equal(parsed.replyTo?.value[0]?.address, 'help@example.test');
    assert.equal(parsed.messageId, '<msg_1@mta.test>');
    assert.match(parsed.html as string, /Hi Ann, see/);
    assert.match(parsed.text as string, /Hi Ann, see this \(https:\/\/example\.test\/a\?x=1&y=2\)/);
    assert.equal(parsed.headers.get('x-campaign'), 'spring');
    assert.equal(parsed.headers.get('x-per'), 'one');
    assert.equal(parsed.headers.get('x-md-channel'), 'trans');
    assert.equal(raw.toString().match(/^Subject:/gim)?.length, 1);
    assert.equal(parsed.attachments.length, 1);
    assert.equal(parsed.attachments[0]!.filename, 'data.csv');
    assert.equal(parsed.attachments[0]!.content.toString(), 'a,b\n1,2\n');
  });
  it('renders Liquid per recipient, with tracking and List-Unsubscribe through MessageLinks', async () => {
    const links = {
      unsubscribeUrl: (id: string) => `https://u.test/unsub`,
      unsubscribeMailto: (id: string) => `mailto:unsub+${id}@bounce.test`,
      returnPath: (id: string) => `b-${id}@bounce.test`,
      openPixelUrl: (id: string) => `https://t.test/o/${id}`,
      clickUrl: (id: string, url: string) => `https://t.test/c/${id}?u=${encodeURIComponent(url)}`,
    };
    const compiled = compileContent({ ...content, html: '<p>Hi {{ name }}</p><a href="https://example.test/x">x</a><a href="{{ unsubscribe_url }}">u</a>', settings: { liquid: true, tracking: { open: true, click: true }, list_unsubscribe: true } });
    assert.equal(compiled.staticBody, null);
    const composed = composeMessage(compiled, { id: 'msg_2', channel: 'bulk', to_email: 'b@example.test', to_name: null, personalization: { variables: { name: '<Bo>' } } }, { hostname: 'mta.test', date: 'x', links });
    const parsed = await simpleParser(Buffer.concat([Buffer.from(composed.headers), Buffer.from('\r\n'), ...composed.body.parts]));
    assert.equal(parsed.subject, 'Grüße, <Bo>');
    assert.match(parsed.html as string, /Hi &lt;Bo&gt;/);
    assert.match(parsed.html as string, /href="https:\/\/t\.test\/c\/msg_2\?u=https%3A%2F%2Fexample\.test%2Fx"/);
    assert.match(parsed.html as string, /href="https:\/\/u\.test\/unsub"/);
    assert.match(parsed.html as string, /<img src="https:\/\/t\.test\/o\/msg_2"/);
    const unfolded = composed.headers.replace(/\r\n[ \t]+/g, ' ');
    assert.match(unfolded, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    assert.match(unfolded, /^List-Unsubscribe: <https:\/\/u\.test\/unsub>, <mailto:unsub\+msg_2@bounce\.test>$/m);
  });
  it('rewrites only http(s) links', () => {
    const out = rewriteLinks('<a href="mailto:a@b">m</a><a href=\'http://x.test/?a=1&amp;b=2\'>x</a>', (u) => `R(${u})`);
    assert.equal(out, '<a href="mailto:a@b">m</a><a href=\'R(http://x.test/?a=1&amp;b=2)\'>x</a>');
  });
  it('DKIM canonicalization follows RFC 6376 relaxed rules', () => {
    assert.equal(relaxedHeader('Subject:  Hello \r\n\t world  '), 'subject:Hello world');
    assert.equal(relaxedBody('a  b \r\n\r\n\r\n'), 'a b\r\n');
    assert.equal(relaxedBody(''), '');
    // RFC 6376 3.4.4: the empty body hashes as the empty string under relaxed canonicalization.
    assert.equal(bodyHash(''), '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
    // Bytes hashed in place, whole or in pieces, hash as the string's relaxed form does.
    const alphabet = ['a', 'b', ' ', '  ', '\t', ' \t ', '\r\n', '\r', '\n', '.'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let round = 0; round < 500; round++) {
      const text = Array.from({ length: next() % 40 }, () => alphabet[next() % alphabet.length]).join('');
      const bytes = Buffer.from(text, 'latin1');
      const expected = createHash('sha256').update(relaxedBody(text), 'latin1').digest('base64');
      assert.equal(bodyHash(bytes), expected, JSON.stringify(text));
      const cut = next() % (bytes.length + 1);
      assert.equal(bodyHash([bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `${JSON.stringify(text)} cut at ${cut}`);
    }
  });
});
