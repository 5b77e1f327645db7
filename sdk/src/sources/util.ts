// Small isomorphic helpers shared by discovery and selection (not part of the public API unless re-exported).
import type { BaseENR } from "@chainsafe/enr";
import { getBytes } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";

/** `@chainsafe/enr` node ids are unprefixed hex; the SDK's are 0x-prefixed lowercase. */
export function enrNodeId(enr: BaseENR): string {
  return normalizeNodeId(enr.nodeId);
}

/** INVALID_ARGUMENT error (the SDK throws only MailserverSdkError). */
export function invalidArgument(message: string, details: Record<string, unknown> = {}, cause?: unknown): MailserverSdkError {
  return new MailserverSdkError("INVALID_ARGUMENT", message, { details, cause });
}

/** Looks like ENR text (`enr:` prefix), whether or not it is valid. */
export function isEnrText(text: string): boolean {
  return text.trim().startsWith("enr:");
}

/** Private key as 32 bytes from hex (with or without 0x) or bytes. */
export function privateKeyBytes(key: string | Uint8Array): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = typeof key === "string" ? getBytes(key.startsWith("0x") ? key : `0x${key}`) : Uint8Array.from(key);
  } catch (e) {
    throw invalidArgument("a node private key must be 32 bytes (secp256k1), hex or bytes", {}, e);
  }
  if (bytes.length !== 32) throw invalidArgument("a node private key must be 32 bytes (secp256k1)");
  return bytes;
}

/** Rejects with `onTimeout()` after `ms` unless `promise` settles first; the timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref?.();
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Resolves after `ms` (unref'd timer). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });
}
