import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../errors.ts';
import { MAX_TEMPLATE_CHARS, compileTemplate, renderTemplate } from './liquid.ts';

function domainError(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected an error');
}

describe('liquid templates', () => {
  it('substitutes name, email, metadata, per-send variables and unsubscribe_url', () => {
    const compiled = compileTemplate('Hola {{ name }} <{{ email }}> plan={{ metadata.plan }} code={{ code }} {{ unsubscribe_url }}', 'body_text');
    const out = renderTemplate(
      compiled,
      { name: 'Ana', email: 'ana@empresa.com', metadata: { plan: 'pro' }, code: 'X1', unsubscribe_url: 'https://u.test/t' },
      { html: false },
    );
    assert.equal(out, 'Hola Ana <ana@empresa.com> plan=pro code=X1 https://u.test/t');
  });

  it('escapes substituted values in HTML mode and not in text mode', () => {
    const compiled = compileTemplate('<p>{{ name }}</p><a href="{{ unsubscribe_url }}">x</a>', 'html');
    const vars = { name: '<script>"Ana" & co</script>', unsubscribe_url: 'https://u.test/?a=1&b=2' };
    assert.equal(
      renderTemplate(compiled, vars, { html: true }),
      '<p>&lt;script&gt;&#34;Ana&#34; &amp; co&lt;/script&gt;</p><a href="https://u.test/?a=1&amp;b=2">x</a>',
    );
    assert.equal(renderTemplate(compiled, vars, { html: false }), '<p><script>"Ana" & co</script></p><a href="https://u.test/?a=1&b=2">x</a>');
  });

  it('lets an HTML template opt out of escaping with | raw', () => {
    const compiled = compileTemplate('{{ snippet | raw }}', 'html');
    assert.equal(renderTemplate(compiled, { snippet: '<b>x</b>' }, { html: true }), '<b>x</b>');
  });

  it('renders missing variables as empty', () => {
    const compiled = compileTemplate('[{{ name }}][{{ metadata.nothing }}]', 'subject');
    assert.equal(renderTemplate(compiled, {}, { html: false }), '[][]');
  });

  it('reuses one compiled template across many renders with different variables', () => {
    const compiled = compileTemplate('{{ name | upcase }}', 'subject');
    const names = ['ana', 'pedro', 'maría'];
    assert.deepEqual(
      names.map((name) => renderTemplate(compiled, { name }, { html: true })),
      ['ANA', 'PEDRO', 'MARÍA'],
    );
  });

  it('names the field and the line of a syntax error', () => {
    const error = domainError(() => compileTemplate('line one\nline two\n{% if plan %}never closed', 'html'));
    assert.equal(error.kind, 'invalid');
    assert.equal(error.code, 'template_syntax');
    assert.equal(error.details[0]?.field, 'html');
    assert.match(error.message, /line 3/);
  });

  it('rejects an unclosed output, an unknown tag and an unknown filter', () => {
    for (const [source, line] of [['a\n{{ name', 2], ['{% bogus %}', 1], ['x\ny\n{{ name | nosuchfilter }}', 3]] as const) {
      const error = domainError(() => compileTemplate(source, 'subject'));
      assert.equal(error.code, 'template_syntax', source);
      assert.equal(error.details[0]?.field, 'subject');
      assert.match(error.message, new RegExp(`line ${line}`), source);
    }
  });

  it('refuses tags that would read files', () => {
    for (const tag of ['{% include "x" %}', '{% render "x" %}', '{% layout "x" %}']) {
      const error = domainError(() => compileTemplate(tag, 'html'));
      assert.equal(error.code, 'template_syntax', tag);
      assert.match(error.message, /not available/);
    }
  });

  it('refuses a template longer than the limit', () => {
    const error = domainError(() => compileTemplate('x'.repeat(MAX_TEMPLATE_CHARS + 1), 'html'));
    assert.equal(error.code, 'template_too_long');
  });

  it('stops a render that would loop for too long or build too much', () => {
    const hostile = [
      '{% for i in (1..5000) %}{% for j in (1..5000) %}{{ j }}{% endfor %}{% endfor %}',
      '{% for i in (1..100000000) %}x{% endfor %}',
      '{% assign a = "xxxxxxxxxx" %}{% for i in (1..40) %}{% assign a = a | append: a %}{% endfor %}{{ a }}',
    ];
    for (const source of hostile) {
      const compiled = compileTemplate(source, 'html');
      const error = domainError(() => renderTemplate(compiled, {}, { html: true }));
      assert.equal(error.code, 'template_render', source);
      assert.equal(error.details[0]?.field, 'html');
    }
  });
});
