/**
 * Byte helpers for the gate's hot paths (isomorphic: no `node:*`). ethers' `getBytes`,
 * `AbiCoder.encode` and `getAddress` validate, copy and checksum on every call; a gate that
 * hashes one EIP-712 struct per request spends most of its time there, so the hot paths parse
 * fixed-size hex straight into one buffer instead.
 */
import { keccak_256 } from "@noble/hashes/sha3.js";

export const keccak = (data: Uint8Array): Uint8Array => keccak_256(data);

const HEX_VALUES = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[65 + i] = 10 + i;
    table[97 + i] = 10 + i;
  }
  return table;
})();

/**
 * Parse `0x` + exactly `length` bytes of hex into `out` at `offset`. False (and `out` partly
 * written) when the string is not of that form.
 */
export function hexInto(hex: unknown, length: number, out: Uint8Array, offset: number): boolean {
  if (typeof hex !== "string" || hex.length !== 2 + 2 * length || hex.charCodeAt(0) !== 48 || (hex.charCodeAt(1) | 32) !== 120) return false;
  for (let i = 0; i < length; i++) {
    const hi = hex.charCodeAt(2 + 2 * i);
    const lo = hex.charCodeAt(3 + 2 * i);
    const h = hi < 128 ? HEX_VALUES[hi] : -1;
    const l = lo < 128 ? HEX_VALUES[lo] : -1;
    if (h < 0 || l < 0) return false;
    out[offset + i] = (h << 4) | l;
  }
  return true;
}

/** `0x` + `length` bytes of hex as a new array, or undefined when malformed. */
export function hexBytes(hex: unknown, length: number): Uint8Array | undefined {
  const out = new Uint8Array(length);
  return hexInto(hex, length, out, 0) ? out : undefined;
}

const HEX_CHARS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase `0x` hex of `bytes[start, end)`. */
export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = "0x";
  for (let i = start; i < end; i++) out += HEX_CHARS[bytes[i]];
  return out;
}

/** Write a non-negative safe integer as a 32-byte big-endian word ending at `offset + 32`. */
export function uintWordInto(value: number, out: Uint8Array, offset: number): void {
  let v = value;
  for (let i = offset + 31; i >= offset + 24; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
}

const encoder = new TextEncoder();
export const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** EIP-55 checksum form of a lowercase `0x` address (one keccak, no validation: callers parsed it). */
export function checksumAddress(lower: string): string {
  const hex = lower.slice(2);
  const hash = keccak_256(encoder.encode(hex));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0x0f;
    const c = hex[i];
    out += nibble >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

/** keccak256(0x1901 ‖ domainSeparator ‖ structHash): the EIP-712 digest. */
export function eip712Digest(domainSeparator: Uint8Array, structHash: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(66);
  buffer[0] = 0x19;
  buffer[1] = 0x01;
  buffer.set(domainSeparator, 2);
  buffer.set(structHash, 34);
  return keccak_256(buffer);
}

/** A 65-byte signature (r ‖ s ‖ v, v 27/28 or 0/1) split into compact r ‖ s and the recovery id. */
export function splitSignature(signature: unknown): { compact: Uint8Array; recoveryId: number } | undefined {
  const bytes = hexBytes(signature, 65);
  if (bytes === undefined) return undefined;
  const v = bytes[64];
  const recoveryId = v >= 27 ? v - 27 : v;
  if (recoveryId !== 0 && recoveryId !== 1) return undefined;
  return { compact: bytes.subarray(0, 64), recoveryId };
}
