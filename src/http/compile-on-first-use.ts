import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { ValidateFunction } from 'ajv';

// Fastify compiles every route's validators and response serializers when the route is added: with ~150
// routes that was the largest part of a start's CPU, spent on schemas most processes never use. These
// wrappers compile a schema the first time a request needs it, with the same compilers, so what a request
// gets is unchanged; only when the work is done moves.

/**
 * A validator compiled at its first call. Fastify reads `errors` after a failed call and `schemaEnv` (Ajv's
 * marker that the root value may be replaced, e.g. by coercion) before each call: both come from the compiled one.
 */
export function validatorOnFirstUse(compile: () => ValidateFunction): ValidateFunction {
  let compiled: ValidateFunction | null = null;
  const get = () => (compiled ??= compile());
  const validate = ((data: unknown, context?: Parameters<ValidateFunction>[1]) => get()(data, context)) as ValidateFunction;
  Object.defineProperties(validate, {
    errors: { get: () => get().errors },
    schemaEnv: { get: () => get().schemaEnv },
  });
  return validate;
}

/** Fastify's own serializer factory (fast-json-stringify), each route's serializer compiled at its first response. */
export function serializersOnFirstUse(...factoryArgs: Parameters<ReturnType<typeof SerializerSelector>>) {
  const compile = SerializerSelector()(...factoryArgs);
  return (route: Parameters<typeof compile>[0]) => {
    let serialize: ReturnType<typeof compile> | null = null;
    return (doc: unknown) => (serialize ??= compile(route))(doc);
  };
}
