/**
 * How deeply a JSON value sent to the API may nest (objects and arrays; the outermost counts as 1).
 * Recursive code further on (JSON.stringify, Ajv, canonical hashing) would overflow the stack on
 * thousands of levels; no real payload needs more than a few.
 */
export const MAX_JSON_DEPTH = 32;

/** Whether `value` nests objects or arrays more than `maxDepth` levels deep; iterative, so any depth is safe. */
export function nestsDeeperThan(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
