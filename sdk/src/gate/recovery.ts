import { recoverAddress } from "ethers";

/** Recovers the address that signed a 32-byte digest, or undefined when it cannot. */
export type RecoverFn = (digest: string, signature: string) => string | undefined;

/** Signature recovery in JavaScript (ethers): works everywhere, a few milliseconds a call. */
export const recoverInJs: RecoverFn = (digest, signature) => {
  try {
    return recoverAddress(digest, signature);
  } catch {
    return undefined;
  }
};
