// The gate's signature checks: recovery through the chosen backend (libsecp256k1 when it loads,
// else JavaScript, or the caller's), and the per-peer caches that keep a decision cheap.
import { checksumAddress, hexInto, keccak, utf8 } from "../gate/bytes.js";
import { loadNativeRecoverBytes } from "./nativeRecovery.js";
import { recoverBytesFrom, recoverBytesInJs, type RecoverBytesFn, type RecoverFn } from "../gate/recovery.js";

/** Entries a cache keeps before it is emptied (peers and client ids are bounded, not trusted). */
export const MAX_CACHED = 100_000;

export class SignatureVerifier {
  #recover: RecoverBytesFn | Promise<RecoverBytesFn>;
  #backend: "native" | "js" | "custom" | undefined;
  readonly #checksummed = new Map<string, string>();
  readonly #peerIdHashes = new Map<string, Uint8Array>();

  constructor(recovery: "auto" | "js" | RecoverFn) {
    if (typeof recovery === "function") {
      this.#recover = recoverBytesFrom(recovery);
      this.#backend = "custom";
    } else if (recovery === "js") {
      this.#recover = recoverBytesInJs;
      this.#backend = "js";
    } else {
      // Loaded once, on first use (constructors stay synchronous).
      this.#recover = loadNativeRecoverBytes().then((native) => {
        this.#backend = native === undefined ? "js" : "native";
        this.#recover = native ?? recoverBytesInJs;
        return this.#recover;
      });
    }
  }

  /** Which recovery is in use (known after the first check with "auto"). */
  get backend(): "native" | "js" | "custom" | undefined {
    return this.#backend;
  }

  /**
   * Whether `signature` (as `splitSignature` gives it) over `digest` is by the 20-byte address
   * `claimed`. Synchronous once the backend is loaded: the per-request path awaits nothing here.
   */
  signedBy(digest: Uint8Array, signature: { compact: Uint8Array; recoveryId: number }, claimed: Uint8Array): boolean | Promise<boolean> {
    const matches = (recover: RecoverBytesFn) => {
      const signer = recover(digest, signature.compact, signature.recoveryId);
      return signer !== undefined && equalBytes(signer, claimed);
    };
    return this.#recover instanceof Promise ? this.#recover.then(matches) : matches(this.#recover);
  }

  /** keccak256 of a peer id, kept per peer: a connection sends many requests. */
  peerIdHash(peerId: unknown): Uint8Array | undefined {
    if (typeof peerId !== "string") return undefined;
    let hash = this.#peerIdHashes.get(peerId);
    if (hash === undefined) {
      hash = keccak(utf8(peerId));
      if (this.#peerIdHashes.size >= MAX_CACHED) this.#peerIdHashes.clear();
      this.#peerIdHashes.set(peerId, hash);
    }
    return hash;
  }

  /** EIP-55 form of an address already known to be 20 bytes of hex (cached: checksumming hashes). */
  checksum(address: string): string {
    const lower = address.toLowerCase();
    let found = this.#checksummed.get(lower);
    if (found === undefined) {
      found = checksumAddress(lower);
      if (this.#checksummed.size >= MAX_CACHED) this.#checksummed.clear();
      this.#checksummed.set(lower, found);
    }
    return found;
  }
}

/** Whether `nodeId` (hex) is the 32 bytes `expected`. */
export function sameNodeId(nodeId: unknown, expected: Uint8Array): boolean {
  const bytes = new Uint8Array(32);
  return hexInto(nodeId, 32, bytes, 0) && equalBytes(bytes, expected);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
