// Strict checks for the signed JSON documents the SDK reads from strangers (offers, probe
// reports): written once, each kind throwing its own stable error code with its own prefix.
// Plain functions over the kind's error (not an object of methods), so a bundler drops the ones an
// app does not use.
import { MailserverSdkError, type ErrorCode } from "../errors.js";

/** A document kind's own error: its code, its message prefix. */
export type InvalidDocument = (message: string, details?: Record<string, unknown>, cause?: unknown) => MailserverSdkError;

/** The error of one document kind, e.g. `documentError("INVALID_OFFER", "invalid offer")`. */
export function documentError(code: ErrorCode, prefix: string): InvalidDocument {
  return (message, details = {}, cause) => new MailserverSdkError(code, `${prefix}: ${message}`, { details, ...(cause !== undefined ? { cause } : {}) });
}

/** A plain object with exactly `keys`: an unknown field is refused, and so is a missing one. */
export function exactRecord(invalid: InvalidDocument, value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`${what} is not an object`);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!keys.includes(key)) throw invalid(`unknown field ${what}.${key}`);
  for (const key of keys) if (!(key in o)) throw invalid(`missing field ${what}.${key}`);
  return o;
}

/** A safe integer in 0..max (default: any non-negative one). */
export function boundedUint(invalid: InvalidDocument, value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(max === Number.MAX_SAFE_INTEGER ? `${what} must be a non-negative integer` : `${what} must be an integer in 0..${max}`);
  }
  return value;
}

/** At most `maxBytes` of UTF-8 JSON, parsed (nothing else is decoded from a stranger's bytes). */
export function boundedJson(invalid: InvalidDocument, bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.length > maxBytes) throw invalid(`${bytes.length} bytes, above ${maxBytes}`, { size: bytes.length });
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as unknown;
  } catch (error) {
    throw invalid("not UTF-8 JSON", {}, error);
  }
}
