// Strict checks for the signed JSON documents the SDK reads from strangers (offers, probe
// reports): written once, each kind throwing its own stable error code with its own prefix.
import { MailserverSdkError, type ErrorCode } from "../errors.js";

export interface DocumentChecks {
  /** The document kind's own error: its code, its message prefix. */
  invalid(message: string, details?: Record<string, unknown>, cause?: unknown): MailserverSdkError;
  /** A plain object with exactly `keys`: an unknown field is refused, and so is a missing one. */
  record(value: unknown, what: string, keys: readonly string[]): Record<string, unknown>;
  /** A safe integer in 0..max (default: any non-negative one). */
  uint(value: unknown, what: string, max?: number): number;
  /** At most `maxBytes` of UTF-8 JSON, parsed (nothing else is decoded from a stranger's bytes). */
  json(bytes: Uint8Array, maxBytes: number): unknown;
}

/** The checks of one document kind, e.g. `documentChecks("INVALID_OFFER", "invalid offer")`. */
export function documentChecks(code: ErrorCode, prefix: string): DocumentChecks {
  const invalid = (message: string, details: Record<string, unknown> = {}, cause?: unknown) =>
    new MailserverSdkError(code, `${prefix}: ${message}`, { details, ...(cause !== undefined ? { cause } : {}) });
  return {
    invalid,
    record(value, what, keys) {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`${what} is not an object`);
      const o = value as Record<string, unknown>;
      for (const key of Object.keys(o)) if (!keys.includes(key)) throw invalid(`unknown field ${what}.${key}`);
      for (const key of keys) if (!(key in o)) throw invalid(`missing field ${what}.${key}`);
      return o;
    },
    uint(value, what, max = Number.MAX_SAFE_INTEGER) {
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
        throw invalid(max === Number.MAX_SAFE_INTEGER ? `${what} must be a non-negative integer` : `${what} must be an integer in 0..${max}`);
      }
      return value;
    },
    json(bytes, maxBytes) {
      if (bytes.length > maxBytes) throw invalid(`${bytes.length} bytes, above ${maxBytes}`, { size: bytes.length });
      try {
        return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as unknown;
      } catch (error) {
        throw invalid("not UTF-8 JSON", {}, error);
      }
    },
  };
}
