import { getBytes, recoverAddress, Signature } from "ethers";
import { hexBytes, toHex } from "./bytes.js";

/** Recovers the address that signed a 32-byte digest, or undefined when it cannot. */
export type RecoverFn = (digest: string, signature: string) => string | undefined;

/**
 * The gate's internal form: digest and compact signature as bytes, the signer's 20-byte address
 * back (no hex round trips, no checksumming in the hot path).
 */
export type RecoverBytesFn = (digest: Uint8Array, compact: Uint8Array, recoveryId: number) => Uint8Array | undefined;

/** Signature recovery in JavaScript (ethers): works everywhere, a few milliseconds a call. */
export const recoverInJs: RecoverFn = (digest, signature) => {
  try {
    return recoverAddress(digest, signature);
  } catch {
    return undefined;
  }
};

/** `recoverInJs` in the gate's byte form. */
export const recoverBytesInJs: RecoverBytesFn = (digest, compact, recoveryId) => {
  try {
    const signature = Signature.from({ r: toHex(compact, 0, 32), s: toHex(compact, 32, 64), yParity: recoveryId as 0 | 1 });
    return getBytes(recoverAddress(digest, signature));
  } catch {
    return undefined;
  }
};

/** Adapt a caller's `RecoverFn` (hex in, address out) to the byte form. */
export function recoverBytesFrom(recover: RecoverFn): RecoverBytesFn {
  return (digest, compact, recoveryId) => {
    try {
      const address = recover(toHex(digest), toHex(compact) + (27 + recoveryId).toString(16));
      return address === undefined ? undefined : hexBytes(address.toLowerCase(), 20);
    } catch {
      return undefined;
    }
  };
}
