import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEncodedWords, parseHeaderFields, rewriteEntity, splitMessage } from './raw-mime.ts';

const upper = (text: string) => text.replaceAll('-name-', 'Zoë');

function multipart(): string {
  return [
    '--b1',
    'Content-Type: multipart/alternative; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('Hello -name-\r\n').toString('base64'),
    '--b2',
    'Content-Type: text/html; charset="UTF-8"',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    '<p>Hello -name-, caf=C3=A9 =',
    'ok</p>',
    '--b2--',
    '',
    '--b1',
    'Content-Type: text/plain; name="notes.txt"',
    'Content-Disposition: attachment; filename="notes.txt"',
    '',
    'attached -name- stays',
    '--b1',
    'Content-Type: text/plain; charset=iso-8859-1',
    '',
    'latin -name- stays',
    '--b1--',
    'epilogue',
  ].join('\r\n');
}

describe('raw MIME rewriting', () => {
  it('rewrites the text parts of a nested multipart in their own encodings, leaving attachments and other charsets', () => {
    const result = rewriteEntity('multipart/mixed; boundary=b1', null, null, multipart(), upper);
    assert.ok(result);
    const body = Buffer.from(result.body, 'latin1').toString('utf8');
    const plain = /base64\r\n\r\n(\S+)\r\n/.exec(body)![1]!;
    assert.equal(Buffer.from(plain, 'base64').toString('utf8'), 'Hello Zoë\r\n');
    assert.match(body, /<p>Hello Zo=C3=AB, caf=C3=A9 ok<\/p>/);
    assert.match(body, /attached -name- stays/);
    assert.match(body, /latin -name- stays/);
    assert.ok(body.endsWith('--b1--\r\nepilogue'), 'closing delimiter and epilogue kept');
  });

  it('answers null when nothing changes, so the stored bytes go out as they are', () => {
    assert.equal(rewriteEntity('multipart/mixed; boundary=b1', null, null, multipart(), (t) => t), null);
  });

  it('turns a 7bit part that gains 8-bit text into quoted-printable', () => {
    const result = rewriteEntity('text/plain; charset=us-ascii', '7bit', null, 'Hi -name-\r\n', upper);
    assert.deepEqual(result, { body: 'Hi Zo=C3=AB\r\n', encoding: 'quoted-printable' });
    assert.deepEqual(rewriteEntity('text/plain', null, null, 'Hi -name-\r\n', (t) => t.replace('-name-', 'Bob')), { body: 'Hi Bob\r\n' });
  });

  it('splits headers, keeping folded lines with their field', () => {
    const { header, body } = splitMessage(Buffer.from('Subject: a\r\n b\r\nFrom: x@y.z\r\n\r\nbody\r\n'));
    assert.deepEqual(parseHeaderFields(header.toString()), [{ name: 'subject', text: 'Subject: a\r\n b' }, { name: 'from', text: 'From: x@y.z' }]);
    assert.equal(body.toString(), 'body\r\n');
  });

  it('decodes RFC 2047 encoded words, adjacent words joined', () => {
    assert.equal(decodeEncodedWords('=?UTF-8?Q?caf=C3=A9?= =?UTF-8?B?IOKckw==?= ok'), 'café ✓ ok');
    assert.equal(decodeEncodedWords('=?iso-8859-1?q?r=E9sum=E9?='), 'résumé');
  });
});
