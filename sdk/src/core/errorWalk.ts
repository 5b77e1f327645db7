// The one walk through an error and the errors wrapped in it. Providers, ethers, wallets and
// fetch nest the interesting part (a code, revert data, a provider's message) at different
// depths under different keys; every classifier of the SDK looks through them the same way.

/** Do not look inside this node (its nested errors are not part of the answer). */
export const SKIP = Symbol("skip");

/** How deep wrapped errors are followed: providers wrap a few levels, never more. */
const MAX_DEPTH = 6;

/**
 * Visit `error` and, depth first, the values under `keys` of each visited object, until `visit`
 * returns something other than undefined (the answer) or the walk ends (undefined). `visit`
 * returns SKIP to leave a node's nested values out. Non-objects are not visited.
 */
export function findInError<T>(error: unknown, keys: readonly string[], visit: (node: Record<string, unknown>) => T | undefined | typeof SKIP, depth = 0): T | undefined {
  if (depth > MAX_DEPTH || typeof error !== "object" || error === null) return undefined;
  const node = error as Record<string, unknown>;
  const found = visit(node);
  if (found === SKIP) return undefined;
  if (found !== undefined) return found;
  for (const key of keys) {
    const nested = findInError(node[key], keys, visit, depth + 1);
    if (nested !== undefined) return nested;
  }
  return undefined;
}
