// Node-only: loads a native module. Never imported by the isomorphic root entry.
import { getAddress, getBytes, Signature } from "ethers";
import { keccak, toHex } from "../gate/bytes.js";
import type { RecoverBytesFn, RecoverFn } from "../gate/recovery.js";

type EcdsaRecover = (signature: Uint8Array, recoveryId: number, message: Uint8Array, compressed: boolean) => Uint8Array;

async function loadEcdsaRecover(): Promise<EcdsaRecover | undefined> {
  let native: typeof import("secp256k1/bindings.js");
  try {
    native = await import("secp256k1/bindings.js");
  } catch {
    return undefined;
  }
  const ecdsaRecover = native.ecdsaRecover ?? (native as unknown as { default: typeof native }).default?.ecdsaRecover;
  return typeof ecdsaRecover === "function" ? (ecdsaRecover as EcdsaRecover) : undefined;
}

/**
 * Signature recovery through libsecp256k1 in the gate's byte form, from the optional
 * `secp256k1` package (its prebuilt binding), when this platform has it. Undefined where the
 * binding is not available; the package's own pure-JS fallback is deliberately not used, being
 * slower than ethers'.
 */
export async function loadNativeRecoverBytes(): Promise<RecoverBytesFn | undefined> {
  const ecdsaRecover = await loadEcdsaRecover();
  if (ecdsaRecover === undefined) return undefined;
  return (digest, compact, recoveryId) => {
    try {
      const publicKey = ecdsaRecover(compact, recoveryId, digest, false);
      return keccak(publicKey.subarray(1)).subarray(12);
    } catch {
      return undefined;
    }
  };
}

/**
 * Signature recovery through libsecp256k1 (hex in, checksummed address out): roughly two orders
 * of magnitude faster than JavaScript. Undefined where the binding is not available.
 */
export async function loadNativeRecovery(): Promise<RecoverFn | undefined> {
  const fast = await loadNativeRecoverBytes();
  if (fast === undefined) return undefined;
  return (digest, signature) => {
    try {
      const sig = Signature.from(signature);
      const address = fast(getBytes(digest), getBytes(sig.r + sig.s.slice(2)), sig.yParity);
      return address === undefined ? undefined : getAddress(toHex(address));
    } catch {
      return undefined;
    }
  };
}
