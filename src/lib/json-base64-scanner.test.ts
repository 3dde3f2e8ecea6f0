import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import fc from 'fast-check';
import { BASE64 } from '../modules/send/rules.ts';
import { createBase64FieldScanner, type Base64Scan } from './json-base64-scanner.ts';

function scan(text: string | Buffer, cuts: number[] = [], pieceBytes = 5): Base64Scan {
  const body = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const scanner = createBase64FieldScanner({ array: 'attachments', field: 'content', pieceBytes });
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b)) {
    scanner.write(body.subarray(at, cut));
    at = cut;
  }
  scanner.write(body.subarray(at));
  return scanner.end();
}

const parses = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
};

const bytesOf = (result: Base64Scan, key: unknown) => {
  const pieces = result.decoded.get(key as string);
  assert.ok(pieces, `no bytes for ${String(key)}`);
  return Buffer.concat(pieces);
};

/**
 * What the scanner promises about a body: its text parses exactly when the body does, to the same value
 * except that each attachments[].content is either the same string, or (clean base64) the key of bytes
 * equal to Node's own decoding, or (not base64) a stand-in that is not base64 either and holds a NUL
 * exactly when the original did.
 */
function assertFaithful(body: string, cuts: number[], pieceBytes: number): void {
  const result = scan(body, cuts, pieceBytes);
  const original = parses(body);
  const rest = parses(result.text.charCodeAt(0) === 0xfeff ? result.text.slice(1) : result.text);
  const originalOk = original.ok || (body.charCodeAt(0) === 0xfeff && parses(body.slice(1)).ok);
  assert.equal(rest.ok, originalOk, `parses: ${body.slice(0, 200)} → ${result.text.slice(0, 200)}`);
  if (!original.ok || !rest.ok) return;
  const before = original.value as { attachments?: Array<{ content?: unknown }> };
  const after = rest.value as typeof before;
  if (Array.isArray(before?.attachments)) {
    before.attachments.forEach((a, i) => {
      const b = after.attachments![i]!;
      if (typeof a !== 'object' || a === null || typeof a.content !== 'string' || a.content === b.content) return;
      if (a.content !== '' && BASE64.test(a.content)) assert.ok(bytesOf(result, b.content).equals(Buffer.from(a.content, 'base64')), `bytes of ${JSON.stringify(a.content).slice(0, 80)}`);
      else {
        assert.equal(typeof b.content, 'string');
        assert.equal(BASE64.test(b.content as string), false, `not base64: ${JSON.stringify(a.content)}`);
        assert.equal((b.content as string).includes('\u0000'), a.content.includes('\u0000'));
      }
      a.content = b.content;
    });
  }
  assert.deepEqual(after, before);
}

const base64Text = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(60), { maxLength: 4 }), fc.constantFrom('', '\r\n', '\n'), fc.constantFrom(0, 1, 2))
  .map(([bytes, breaks, eol, strip]) => {
    let text = Buffer.from(bytes).toString('base64');
    if (strip && text.endsWith('=')) text = text.replace(/=+$/, strip === 1 ? '=' : '');
    for (const at of breaks) text = text.slice(0, at) + eol + text.slice(at);
    return text;
  });
const oddText = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', '=', '==', '===', 'AA=A', 'A\u0000A', '\u0000', 'AAAA\u00e9', 'AA==\r\n', 'AA=\r\n=', '\r\n', 'A A', '"', '\\'));
const content = fc.oneof(base64Text, base64Text, oddText);

/** JSON.stringify's text, with some of its characters written as escapes JSON allows (`\/`, `\u0041`). */
const escaping = fc.array(fc.nat(), { maxLength: 6 }).map((picks) => (text: string) => {
  let out = text;
  for (const pick of picks) {
    const at = out.indexOf('/', pick % (out.length + 1)) >= 0 ? out.indexOf('/', pick % (out.length + 1)) : -1;
    if (at >= 0) out = out.slice(0, at) + (pick % 2 ? '\\/' : '\\u002F') + out.slice(at + 1);
    const letter = out.slice(pick % (out.length + 1)).search(/[A-Za-z0-9+]/);
    if (letter >= 0 && pick % 3 === 0) {
      const i = (pick % (out.length + 1)) + letter;
      if (out.slice(0, i).split('"').length % 2 === 0) out = `${out.slice(0, i)}\\u${out.charCodeAt(i).toString(16).padStart(4, '0')}${out.slice(i + 1)}`;
    }
  }
  return out;
});

it('decodes attachments[].content exactly as Buffer.from(…, "base64") would, at any chunk boundary and piece size', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ content, filename: fc.constantFrom('a.txt', 'b.bin') }), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.integer({ min: 1, max: 9 }),
      escaping,
      (attachments, cuts, pieceBytes, escape) => {
        assertFaithful(escape(JSON.stringify({ subject: 'Hi /', attachments, other: { content: 'AAAA' } })), cuts, pieceBytes);
      },
    ),
    { numRuns: 2000 },
  );
});

it('answers as the body would when it is not valid JSON: cut short, a raw control character, a bad escape', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ content }), { minLength: 1, maxLength: 2 }),
      fc.nat(),
      fc.constantFrom('', '\u0001', '\\x', '\\u12', '\\u12"', '\\', '"', '\u0000', '}', ']', ','),
      fc.array(fc.nat(), { maxLength: 4 }),
      (attachments, at, insert, cuts) => {
        const text = JSON.stringify({ attachments });
        const cut = at % (text.length + 1);
        assertFaithful(text.slice(0, cut) + insert + text.slice(cut), cuts, 4);
        assertFaithful(text.slice(0, cut), cuts, 4);
      },
    ),
    { numRuns: 2000 },
  );
});

it('only the body’s own attachments[].content: not nested deeper, not other fields, not a root array, not an escaped key', () => {
  const b64 = Buffer.from('hello').toString('base64');
  const cases: Array<[string, boolean]> = [
    [`{"attachments":[{"content":"${b64}"}]}`, true],
    [` \r\n{ "attachments" : [ { "filename" : "x" , "content" : "${b64}" } ] } `, true],
    [`{"a":{"attachments":[{"content":"${b64}"}]}}`, false],
    [`[{"attachments":[{"content":"${b64}"}]}]`, false],
    [`{"attachments":[[{"content":"${b64}"}]]}`, false],
    [`{"attachments":{"content":"${b64}"}}`, false],
    [`{"attachments":[{"x":{"content":"${b64}"}}]}`, false],
    [`{"attachments":[{"contents":"${b64}"}]}`, false],
    [`{"attachments":[{"cont\\u0065nt":"${b64}"}]}`, false],
    [`{"attachm\\u0065nts":[{"content":"${b64}"}]}`, false],
    [`{"attachments":[{"\\"content":"${b64}"}]}`, false],
    [`{"attachments":[{"content":["${b64}"]}]}`, false],
    [`{"attachments":[{"content":"${b64}","x":"${b64}"}],"content":"${b64}"}`, true],
  ];
  for (const [body, decoded] of cases) {
    const result = scan(body);
    assert.equal(result.decoded.size, decoded ? 1 : 0, body);
    assert.equal(result.text.includes(b64), !decoded || body.split(b64).length > 2, body);
    assertFaithful(body, [], 3);
  }
});

it('a repeated key or attachment: JSON.parse keeps the last, and each decoded one has its bytes under its own key', () => {
  const [a, b] = [Buffer.from('first'), Buffer.from('second')];
  const body = `{"attachments":[{"content":"${a.toString('base64')}","content":"${b.toString('base64')}"}],"attachments":[{"content":"${a.toString('base64')}"}]}`;
  const result = scan(body);
  const value = JSON.parse(result.text);
  assert.ok(bytesOf(result, value.attachments[0].content).equals(a));
  assert.equal(result.decoded.size, 2, 'the same bytes, the same key');
  assertFaithful(body, [7, 40], 2);
});

it('large strings: decoded across staging and piece boundaries, each full piece as it was filled, the last one its own size', () => {
  for (const size of [49_151, 49_152, 49_153, 200_000]) {
    const bytes = randomBytes(size);
    const text = bytes.toString('base64');
    const wrapped = text.replace(/.{76}/g, '$&\r\n');
    for (const content of [text, wrapped]) {
      const body = JSON.stringify({ attachments: [{ content, filename: 'r.bin' }] });
      const cuts = Array.from({ length: 40 }, (_, i) => Math.floor((i * body.length) / 40) + (i % 3));
      const result = scan(body, cuts, 65_536);
      const pieces = result.decoded.get(JSON.parse(result.text).attachments[0].content)!;
      assert.ok(Buffer.concat(pieces).equals(bytes), `${size} bytes${content === wrapped ? ', wrapped' : ''}`);
      assert.ok(pieces.slice(0, -1).every((p) => p.length === 65_536));
      assert.equal(pieces.at(-1)!.buffer.byteLength >= pieces.at(-1)!.length, true);
      assert.ok(pieces.at(-1)!.length === 65_536 || pieces.at(-1)!.buffer.byteLength < 65_536, 'a short last piece is a copy of its own');
      assert.ok(result.text.length < 200, 'the text holds the key, not the content');
    }
  }
});

it('keeps everything else byte for byte: a leading BOM, UTF-8 split across chunks, NUL escapes elsewhere, __proto__', () => {
  const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"subject":"Olá ☃ \\u0000","__proto__":{"x":1},"attachments":[{"content":"aGk="}]}')]);
  for (let cut = 0; cut <= body.length; cut++) {
    const result = scan(body, [cut]);
    assert.equal(result.text.charCodeAt(0), 0xfeff);
    const value = JSON.parse(result.text.slice(1));
    assert.equal(value.subject, 'Olá ☃ \u0000');
    assert.ok(Object.prototype.hasOwnProperty.call(value, '__proto__'));
    assert.equal(bytesOf(result, value.attachments[0].content).toString(), 'hi');
  }
});
