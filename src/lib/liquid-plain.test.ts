import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Liquid } from 'liquidjs';
import { compileTemplate, renderTemplate } from './liquid.ts';

// The plain-variable shortcut must print exactly what the engine prints, in both modes.
const engines = {
  html: new Liquid({ ownPropertyOnly: true, outputEscape: 'escape' }),
  text: new Liquid({ ownPropertyOnly: true }),
};

const templates = [
  'Hello {{ name }}, {{name}}!',
  '<p>{{ user.first }} {{ user.missing }} {{ missing.deep }}</p>',
  'no tags at all',
  '{{ count }} items, {{ ratio }}, {{ empty_value }}, {{ nothing }}',
  '{{ flag }} {{ list }} {{ user }}',
  '{{ name | upcase }} {{ name.size }} {{ true }}',
  '{% if name %}{{ name }}{% endif %}',
  '{{- name -}} x',
];
const variables = {
  name: `O'Brien <b>&"co"`,
  user: { first: 'Ann & <Bob>' },
  count: 3,
  ratio: 1.5,
  empty_value: null,
  flag: true,
  list: ['a', 'b'],
};

describe('plain templates', () => {
  for (const source of templates) {
    it(`render as the engine does: ${source}`, () => {
      const compiled = compileTemplate(source, 'html');
      for (const mode of ['html', 'text'] as const) {
        assert.equal(renderTemplate(compiled, variables, { html: mode === 'html' }), engines[mode].parseAndRenderSync(source, variables), mode);
      }
    });
  }

  it('takes the shortcut only for text and plain outputs', () => {
    assert.ok(compileTemplate('Hi {{ name }} and {{ a.b }}', 'subject').plain);
    assert.equal(compileTemplate('{% if a %}x{% endif %}', 'subject').plain, null);
    assert.equal(compileTemplate('{{ a | upcase }}', 'subject').plain, null);
    assert.equal(compileTemplate('{{ nil }}', 'subject').plain, null);
  });

  it('never reads inherited properties', () => {
    const compiled = compileTemplate('[{{ user.inherited }}]', 'text');
    const user = Object.create({ inherited: 'leak' }) as Record<string, unknown>;
    assert.equal(renderTemplate(compiled, { user }, { html: false }), '[]');
  });
});
