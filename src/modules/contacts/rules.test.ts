import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../../errors.ts';
import { Readable } from 'node:stream';
import { csvRows, jsonArrayElements, limitBytes, ndjsonRows } from './import-sources.ts';
import { checkContactInput, csvSafeCell, engagementScore, isValidEmail, suppressionReasonFor } from './rules.ts';

async function* chunks(parts: string[]) {
  for (const p of parts) yield p;
}

async function elements(parts: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const e of jsonArrayElements(chunks(parts))) out.push(e);
  return out;
}

describe('contact rules', () => {
  it('accepts everyday addresses and refuses malformed ones', () => {
    for (const good of ['ana@empresa.com', 'Ana.Garcia+news@sub.empresa.com.mx', "o'brien@example.ie", 'x@münchen.de', 'a_b-c@a-b.io']) {
      assert.equal(isValidEmail(good), true, good);
    }
    for (const bad of ['', 'ana', '@empresa.com', 'ana@', 'ana@empresa', 'ana@@empresa.com', 'ana@empresa..com', 'ana..x@empresa.com', '.ana@empresa.com', 'ana @empresa.com', 'ana@-empresa.com', 'ana@empresa.123', `${'a'.repeat(65)}@x.com`, `a@${'b'.repeat(250)}.com`]) {
      assert.equal(isValidEmail(bad), false, bad);
    }
  });

  it('names the problem and the field of a bad contact', () => {
    const cases: [unknown, string, string][] = [
      [null, 'missing_email', 'email'],
      [{ name: 'x' }, 'missing_email', 'email'],
      [{ email: 'nope' }, 'invalid_email', 'email'],
      [{ email: `${'a'.repeat(250)}@b.co` }, 'too_long', 'email'],
      [{ email: 'a@b.co', name: 5 }, 'invalid_name', 'name'],
      [{ email: 'a@b.co', name: 'a\u0000b' }, 'invalid_name', 'name'],
      [{ email: 'a@b.co', name: 'n'.repeat(257) }, 'too_long', 'name'],
      [{ email: 'a@b.co', metadata: [] }, 'invalid_metadata', 'metadata'],
      [{ email: 'a@b.co', metadata: null }, 'invalid_metadata', 'metadata'],
      [{ email: 'a@b.co', metadata: { a: 'x\u0000' } }, 'invalid_metadata', 'metadata'],
      [{ email: 'a@b.co', metadata: { a: 'x'.repeat(20_000) } }, 'too_long', 'metadata'],
    ];
    for (const [row, code, field] of cases) {
      const checked = checkContactInput(row);
      assert.equal(checked.problem?.code, code, JSON.stringify(row)?.slice(0, 60));
      assert.equal(checked.problem?.field, field);
    }
    assert.deepEqual(checkContactInput({ email: ' ana@b.co ', name: null, metadata: { p: 1 } }).input, { email: 'ana@b.co', name: null, metadata: { p: 1 }, metadataJson: '{"p":1}' });
  });

  it('maps statuses to suppression reasons', () => {
    assert.equal(suppressionReasonFor('unsubscribed'), 'unsubscribe');
    assert.equal(suppressionReasonFor('bounced'), 'bounce');
    assert.equal(suppressionReasonFor('complained'), 'complaint');
    assert.equal(suppressionReasonFor('active'), null);
  });

  it('scores engagement by the latest open or click', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
    assert.equal(engagementScore(null, now), 'dormant');
    assert.equal(engagementScore(daysAgo(3), now), 'active');
    assert.equal(engagementScore(daysAgo(30), now), 'active');
    assert.equal(engagementScore(daysAgo(31), now), 'passive');
    assert.equal(engagementScore(daysAgo(90), now), 'passive');
    assert.equal(engagementScore(daysAgo(91), now), 'dormant');
  });

  it('escapes cells a spreadsheet would run as formulas', () => {
    assert.equal(csvSafeCell('=1+1'), "'=1+1");
    assert.equal(csvSafeCell('+34 600'), "'+34 600");
    assert.equal(csvSafeCell('-x'), "'-x");
    assert.equal(csvSafeCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvSafeCell('\tx'), "'\tx");
    assert.equal(csvSafeCell('Ana = Ana'), 'Ana = Ana');
    assert.equal(csvSafeCell(''), '');
  });
});

describe('JSON array splitting', () => {
  it('yields each top-level element, whatever the chunk boundaries', async () => {
    const text = ' [ {"email":"a@b.co","metadata":{"tags":["x","]"],"q":"say \\"hi\\", [ok]"}} , "s,t" ,3,{"e":{}} ]\n';
    const expected = ['{"email":"a@b.co","metadata":{"tags":["x","]"],"q":"say \\"hi\\", [ok]"}}', '"s,t"', '3', '{"e":{}}'];
    assert.deepEqual(await elements([text]), expected);
    for (let size = 1; size <= 7; size++) {
      const parts: string[] = [];
      for (let i = 0; i < text.length; i += size) parts.push(text.slice(i, i + size));
      assert.deepEqual(await elements(parts), expected, `chunks of ${size}`);
    }
  });

  it('accepts an empty array and refuses what is not one array', async () => {
    assert.deepEqual(await elements(['[', ' ]']), []);
    for (const [text, code] of [['{"email":"a@b.co"}', 'not_an_array'], ['[1,]', 'invalid_json'], ['[,1]', 'invalid_json'], ['[1', 'invalid_json'], ['[1] [2]', 'invalid_json'], ['', 'invalid_json']] as const) {
      await assert.rejects(elements([text]), (e: unknown) => e instanceof DomainError && e.code === code, text);
    }
  });
});

describe('import body streams', () => {
  it('splits NDJSON lines across chunks and reports an unreadable line as its own row', async () => {
    const rows = [];
    for await (const row of ndjsonRows(Readable.from(['{"email":"a@b.co"}\r\n{"em', 'ail":"c@d.co"}\n\nnot json\n{"email":"e@f.co"}']))) rows.push(row);
    assert.deepEqual(rows, [
      { index: 0, value: { email: 'a@b.co' } },
      { index: 1, value: { email: 'c@d.co' } },
      { index: 2, unreadable: 'the line is not valid JSON' },
      { index: 3, value: { email: 'e@f.co' } },
    ]);
  });

  it('stops a body past the byte limit with a 413 error', async () => {
    const body = limitBytes(Readable.from([Buffer.from('email\n'), Buffer.from('a@b.co\n'.repeat(10))]), 40);
    await assert.rejects(
      (async () => {
        for await (const _row of csvRows(body));
      })(),
      (e: unknown) => e instanceof DomainError && e.kind === 'too_large' && e.code === 'body_too_large',
    );
  });
});
