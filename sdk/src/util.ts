import { getAddress } from "ethers";
import { MailserverSdkError } from "./errors.js";

/** A checksummed address, or INVALID_ARGUMENT naming the parameter. */
export function checkAddress(value: string, name: string): string {
  try {
    return getAddress(value);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `${name} is not an address: ${String(value)}`, {
      details: { [name]: value },
      cause: error,
    });
  }
}

/** A non-negative integer as bigint, or INVALID_ARGUMENT naming the parameter. */
export function checkUint(value: bigint | number | string, name: string): bigint {
  let result: bigint;
  try {
    result = BigInt(value);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `${name} is not an integer: ${String(value)}`, { cause: error });
  }
  if (result < 0n) throw new MailserverSdkError("INVALID_ARGUMENT", `${name} must not be negative`, { details: { [name]: result } });
  return result;
}

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
