import { isTransientError, MailserverSdkError, toSdkError } from "../errors.js";

/** How reads are retried when the RPC endpoint fails transiently. */
export interface RetryOptions {
  /** Attempts in total, first one included (default 4). */
  attempts?: number;
  /** Delay before the first retry, doubled each time (default 200 ms). */
  baseDelayMs?: number;
  /** Upper bound of one delay (default 3 s). */
  maxDelayMs?: number;
  /**
   * Deadline of one attempt (default 10 s). An RPC that hangs instead of failing costs this much,
   * then counts as a network failure (retried; `RPC_TIMEOUT` once the attempts are spent).
   */
  timeoutMs?: number;
}

/** A read that did not answer within its deadline. */
class DeadlineExceeded extends Error {
  readonly code = "TIMEOUT";
}

/**
 * Settle with `promise` or reject once `ms` have passed, whichever comes first. The call behind a
 * timed-out promise is abandoned, not cancelled: its late answer is ignored.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, label: string, onTimeout?: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout?.() ?? new DeadlineExceeded(`${label}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
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
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new MailserverSdkError("INVALID_ARGUMENT", "retry.timeoutMs must be a positive number", { details: { timeoutMs } });
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await withDeadline(read(), timeoutMs, label);
    } catch (error) {
      if (!(error instanceof DeadlineExceeded) && (error instanceof MailserverSdkError || !isTransientError(error))) throw toSdkError(error, label);
      lastError = error;
      if (attempt < attempts) await sleep(Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
  if (lastError instanceof DeadlineExceeded) {
    throw new MailserverSdkError("RPC_TIMEOUT", `${label}: the RPC did not answer within ${timeoutMs} ms (${attempts} attempts)`, {
      details: { attempts, timeoutMs },
      cause: lastError,
    });
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
