import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { serializersOnFirstUse, validatorOnFirstUse } from './compile-on-first-use.ts';

describe('schemas compiled on first use', () => {
  it('a validator compiles at its first call and answers as the compiled one: errors, and a coerced root value', () => {
    const ajv = new Ajv({ coerceTypes: true, allErrors: true });
    let compiles = 0;
    const validate = validatorOnFirstUse(() => {
      compiles++;
      return ajv.compile({ type: 'integer', minimum: 1 });
    });
    assert.equal(compiles, 0);
    assert.ok(validate.schemaEnv, 'fastify passes the parent only to a validator showing schemaEnv');
    const query = { limit: '5' };
    assert.equal(validate(query.limit, { instancePath: '', parentData: query, parentDataProperty: 'limit', rootData: query, dynamicAnchors: {} }), true);
    assert.equal(query.limit, 5);
    assert.equal(validate(0), false);
    assert.equal((validate.errors as Array<{ keyword: string }>)[0]!.keyword, 'minimum');
    assert.equal(compiles, 1);
  });

  it('a serializer compiles at its first response and writes what fast-json-stringify writes', () => {
    const compile = serializersOnFirstUse();
    const serialize = compile({ method: 'GET', url: '/x', httpStatus: '200', schema: { type: 'object', properties: { id: { type: 'string' }, n: { type: 'integer' } } } });
    assert.equal(serialize({ id: 'a', n: 2, secret: 'dropped' }), '{"id":"a","n":2}');
    assert.equal(serialize({ id: 'b', n: 3 }), '{"id":"b","n":3}');
  });
});
