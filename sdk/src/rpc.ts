import { isTransientError, MailserverSdkError, toSdkError } from "./errors.js";

/** How reads are retried when the RPC endpoint fails transiently. */
export interface RetryOptions {
  /** Attempts in total, first one included (default 4). */
  attempts?: number;
  /** Delay before the first retry, doubled each time (default 200 ms). */
  baseDelayMs?: number;
  /** Upper bound of one delay (default 3 s). */
  maxDelayMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Run a read, retrying network failures with exponential backoff. Reverts and bad arguments are
 * not retried. Whatever finally fails comes out as a MailserverSdkError (RPC_UNAVAILABLE once
 * the retries are spent).
 *
 * Only for reads: retrying a transaction send after a network error could send it twice.
 */
export async function withRetry<T>(label: string, read: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 3_000;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (error instanceof MailserverSdkError || !isTransientError(error)) throw toSdkError(error, label);
      lastError = error;
      if (attempt < attempts) await sleep(Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
  throw new MailserverSdkError("RPC_UNAVAILABLE", `${label}: RPC unavailable after ${attempts} attempts`, {
    details: { attempts },
    cause: lastError,
  });
}

/** Run a write step (send or wait), turning failures into MailserverSdkError without retrying. */
export async function guarded<T>(label: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw toSdkError(error, label);
  }
}

// What providers answer when an eth_getLogs result or range is over their cap (Alchemy, Infura,
// QuickNode, Ankr, geth's own "query returned more than 10000 results").
const RANGE_REFUSAL = /more than \d+ results|query returned more than|response size exceeded|range (is )?too (large|wide|big)|block range|exceed(s|ed)? .*(limit|range)|too many (results|logs|blocks)|limited to \d+/i;

/** Whether an eth_getLogs failure is the provider refusing the range as too large (split it and retry). */
export function isRangeRefusal(error: unknown, depth = 0): boolean {
  if (depth > 6 || typeof error !== "object" || error === null) return false;
  const record = error as Record<string, unknown>;
  if (typeof record.message === "string" && RANGE_REFUSAL.test(record.message)) return true;
  return ["error", "cause", "info", "payload"].some((k) => isRangeRefusal(record[k], depth + 1));
}
