// A bounded read of an HTTP answer's body: a server may announce more than the bound, send more
// than it announced, or announce nothing; never more than `maxBytes` is buffered. Isomorphic.
import { MailserverSdkError } from "../errors.js";

/** Why a body could not be read: over the bound (`size` so far or announced), or the read failed (late, reset). */
export class BodyReadError extends Error {
  constructor(
    readonly kind: "too-large" | "failed",
    message: string,
    readonly size?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The body of `response`, at most `maxBytes`; throws BodyReadError. */
export async function readBoundedBody(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new BodyReadError("too-large", `the answer announces ${declared} bytes, above ${maxBytes}`, declared);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    const reader = response.body?.getReader();
    for (;;) {
      const next = reader === undefined ? { done: true as const, value: undefined } : await reader.read();
      if (next.done) break;
      size += next.value.length;
      if (size > maxBytes) {
        await reader!.cancel().catch(() => undefined);
        throw new BodyReadError("too-large", `answer above ${maxBytes} bytes`, size);
      }
      chunks.push(next.value);
    }
  } catch (error) {
    if (error instanceof BodyReadError) throw error;
    throw new BodyReadError("failed", "the answer did not arrive", undefined, { cause: error });
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

export interface FetchBoundedOptions {
  /** Deadline for the whole exchange, ms. */
  timeoutMs: number;
  maxBytes: number;
  fetch?: typeof fetch;
  /** What is fetched, for messages: "the mail server's offer", "the probe's reports". */
  what: string;
  /** The error for an answer over `maxBytes` (the caller's own code). */
  tooLarge(message: string, size: number | undefined): Error;
}

/**
 * GETs `url` as JSON and reads its body within the deadline and the bound: NODE_UNAVAILABLE when
 * unreachable, not 200 or late; `tooLarge` when over the bound.
 */
export async function fetchBoundedBody(url: string, options: FetchBoundedOptions): Promise<Uint8Array> {
  const { timeoutMs, what } = options;
  const unavailable = (message: string, cause?: unknown) =>
    new MailserverSdkError("NODE_UNAVAILABLE", message, { details: { url, timeoutMs }, ...(cause !== undefined ? { cause } : {}) });
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  } catch (error) {
    throw unavailable(`cannot fetch ${what}`, error);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(`${what} answered HTTP ${response.status}`);
  }
  try {
    return await readBoundedBody(response, options.maxBytes);
  } catch (error) {
    const failure = error as BodyReadError;
    if (failure.kind === "too-large") throw options.tooLarge(failure.message, failure.size);
    throw unavailable(`${what} did not arrive in time`, failure.cause);
  }
}
