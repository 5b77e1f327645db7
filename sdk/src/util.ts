// The address and integer checks live in core/args.ts with the other argument checks; most
// modules import them from here.
export { checkAddress, checkUint } from "./core/args.js";

/** Seconds since the epoch as a bigint. */
export function nowSeconds(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}

/**
 * `load`'s promise, made once and shared by every caller; a failed one is dropped, so the next
 * call tries again (a client recovers when its RPC comes back).
 */
export function onceUnlessFailed<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (pending === undefined) {
      const attempt = load();
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
    }
    return pending;
  };
}
