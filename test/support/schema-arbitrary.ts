// Turns a JSON Schema (as the app's /openapi.json publishes it) into a fast-check arbitrary of
// values that mostly fit it, with some values broken on purpose, so a fuzzer reaches past validation
// into the domain and also probes what validation lets through.
import fc, { type Arbitrary } from 'fast-check';

export type JsonSchema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
};

/** Strings that have broken things before: empty, NUL, CR/LF, huge numbers as text, odd addresses, templates. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\r\nBcc: x@example.com',
  '../../etc/passwd',
  '{{ unclosed',
  '{% if %}',
  '{{ a | nosuchfilter }}',
  '9999999999999999999999',
  '-1',
  '2026-13-45T99:99:99Z',
  'not-a-date',
  '@',
  'a@b',
  'user@localhost',
  'user@[127.0.0.1]',
  '"quoted local"@example.com',
  'http://127.0.0.1/hook',
  'https://example.com/hook',
  'ftp://example.com',
  '\ud800',
  '💥'.repeat(10),
  'x'.repeat(5000),
];

const FORMAT_STRINGS: Record<string, Arbitrary<string>> = {
  email: fc.oneof(
    fc.stringMatching(/^[a-z]{1,8}@example\.com$/),
    fc.constantFrom('a@example.com', 'b@example.com', 'a@other.test'),
    fc.emailAddress(),
  ),
  'date-time': fc.oneof(
    fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('2026-01-01T00:00:00Z', '1970-01-01T00:00:00Z'),
  ),
  uri: fc.oneof(fc.webUrl(), fc.constantFrom('https://example.com/x', 'http://localhost/x')),
  uuid: fc.uuid(),
};

/** Values by field name, for the fields whose schema alone says too little (a bare string that must be an address). */
/** URLs that lead somewhere real in the test (e.g. a webhook receiver); set before building arbitraries. */
export const extraUrls: string[] = [];

const BY_NAME: Array<[RegExp, Arbitrary<string>]> = [
  [/email$|^to$|^from$|reply_to/, FORMAT_STRINGS.email!],
  [/domain/, fc.constantFrom('example.com', 'other.test', 'mail.example.com')],
  [/url$/, fc.nat(99).map((i) => { const all = [...extraUrls, 'https://example.com/hook', 'http://127.0.0.1:1/x']; return all[i % all.length]!; })],
];

function nasty(): Arbitrary<unknown> {
  return fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.jsonValue({ maxDepth: 3 }), fc.integer(), fc.double(), fc.constant(null));
}

function stringFor(schema: JsonSchema, pool: () => string[], name: string): Arbitrary<string> {
  const known = pool();
  const choices: Arbitrary<string>[] = [];
  for (const [pattern, arbitrary] of BY_NAME) if (pattern.test(name)) choices.push(arbitrary, arbitrary);
  if (schema.format && FORMAT_STRINGS[schema.format]) choices.push(FORMAT_STRINGS[schema.format]!);
  if (schema.pattern) {
    try {
      choices.push(fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 1000)));
    } catch {
      // a pattern JavaScript cannot compile is not ours to fuzz
    }
  }
  if (choices.length === 0) choices.push(fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) }));
  if (known.length && !schema.format && !schema.pattern) choices.push(fc.constantFrom(...known));
  return fc.oneof(...choices);
}

/**
 * An arbitrary for `schema`. `pool` gives ids and names seen so far (so references sometimes hit
 * real objects); `breakRate` is the weight of a deliberately wrong value at each node.
 */
export function arbitraryFor(schema: JsonSchema, pool: () => string[], depth = 0, breakRate = 1, name = ''): Arbitrary<unknown> {
  const fitting = fitFor(schema, pool, depth, breakRate, name);
  if (breakRate === 0) return fitting;
  return fc.oneof({ arbitrary: fitting, weight: 12 }, { arbitrary: nasty(), weight: breakRate });
}

function fitFor(schema: JsonSchema, pool: () => string[], depth: number, breakRate: number, name: string): Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches?.length) return fc.oneof(...branches.map((b) => arbitraryFor(b, pool, depth + 1, breakRate, name)));
  if (schema.allOf?.length) return arbitraryFor(Object.assign({}, ...schema.allOf) as JsonSchema, pool, depth, breakRate, name);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return stringFor(schema, pool, name);
    case 'integer':
      return fc.oneof(
        fc.integer({ min: schema.minimum ?? -10, max: Math.min(schema.maximum ?? 1_000, 1_000_000) }),
        fc.constantFrom(0, 1, 2 ** 31, Number.MAX_SAFE_INTEGER),
      );
    case 'number':
      return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 1e308));
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      if (depth > 5) return fc.constant([]);
      const items = schema.items ? arbitraryFor(schema.items, pool, depth + 1, breakRate, name) : fc.jsonValue({ maxDepth: 2 });
      return fc.array(items, { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 4) });
    }
    case 'object':
    default: {
      const properties = schema.properties ?? {};
      const names = Object.keys(properties);
      const extra = schema.additionalProperties;
      if (names.length === 0 && extra && typeof extra === 'object' && depth <= 5) {
        return fc.dictionary(fc.stringMatching(/^[a-z_]{1,10}$/), arbitraryFor(extra as JsonSchema, pool, depth + 1, breakRate), { maxKeys: 3 });
      }
      if (names.length === 0 || depth > 5) return fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
      const record: Record<string, Arbitrary<unknown>> = {};
      for (const field of names) record[field] = arbitraryFor(properties[field]!, pool, depth + 1, breakRate, field);
      // Required fields are there most of the time; every other field comes and goes.
      const required = new Set(schema.required ?? []);
      return fc
        .tuple(fc.record(record, { requiredKeys: [] }), fc.record(Object.fromEntries([...required].filter((n) => n in record).map((n) => [n, record[n]!]))))
        .chain(([some, needed]) => fc.integer({ min: 0, max: 9 }).map((roll) => (roll === 0 && required.size ? some : { ...some, ...needed })));
    }
  }
}
