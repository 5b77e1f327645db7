// Native signature recovery (Node-only: a prebuilt libsecp256k1 binding).
import { Signature, dataSlice, getAddress, getBytes, keccak256 } from "ethers";
import type { RecoverFn } from "./recovery.js";

/**
 * Signature recovery through libsecp256k1, from the optional `secp256k1` package (its prebuilt
 * binding), when this platform has it: roughly two orders of magnitude faster than JavaScript,
 * which is what bounds a gate's throughput. Undefined where the binding is not available; the
 * package's own pure-JS fallback is deliberately not used, being slower than ethers'.
 */
export async function loadNativeRecovery(): Promise<RecoverFn | undefined> {
  let native: typeof import("secp256k1/bindings.js");
  try {
    native = await import("secp256k1/bindings.js");
  } catch {
    return undefined;
  }
  const ecdsaRecover = native.ecdsaRecover ?? (native as unknown as { default: typeof native }).default?.ecdsaRecover;
  if (typeof ecdsaRecover !== "function") return undefined;
  return (digest, signature) => {
    try {
      const sig = Signature.from(signature);
      const compact = getBytes(sig.r + sig.s.slice(2));
      const publicKey = ecdsaRecover(compact, sig.yParity, getBytes(digest), false);
      return getAddress(dataSlice(keccak256(publicKey.subarray(1)), 12));
    } catch {
      return undefined;
    }
  };
}
