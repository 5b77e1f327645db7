// One request, one answer, over a new libp2p stream: the client side of Waku's request/response
// protocols (store v3, metadata, lightpush). Every exchange has a deadline and a size bound, and a
// peer that is down, silent or hostile costs one stream and that deadline, nothing more.
import * as lp from "it-length-prefixed";
import type { DuplexStream } from "./streams.js";

/**
 * Opens a stream of `protocol` to the peer at `peer` (a multiaddr string with `/p2p/<peer id>`).
 * Callers pass `libp2p.dialProtocol` behind this, so no libp2p object crosses into these modules.
 */
export type Dial = (peer: string, protocol: string, options: { signal: AbortSignal }) => Promise<DuplexStream>;

/** Why an exchange failed. `status` is the caller's: an answer that refuses the request. */
export class RequestError extends Error {
  constructor(
    readonly kind: "timeout" | "aborted" | "dial" | "too-large" | "empty" | "malformed" | "broken" | "status",
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  signal?: AbortSignal;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Opens a stream of `protocol` to `peer`, writes `request` length-prefixed and reads one
 * length-prefixed answer of at most `maxResponseBytes`, all within `timeoutMs`. Resolves to the
 * answer's bytes; throws `RequestError`.
 */
export async function exchange(dial: Dial, peer: string, protocol: string, request: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
  if (options.signal?.aborted) throw new RequestError("aborted", "aborted");
  const controller = new AbortController();
  let stream: DuplexStream | undefined;
  let failure: RequestError | undefined;
  let answer: Uint8Array | undefined;
  const stop = (error: RequestError) => {
    failure ??= error;
    controller.abort(failure);
    stream?.abort(failure);
  };
  const timer = setTimeout(() => stop(new RequestError("timeout", `no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
  const onAbort = () => stop(new RequestError("aborted", "aborted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  // Settles the call at the deadline whatever the stream does with its abort.
  const deadline = new Promise<never>((_, reject) => controller.signal.addEventListener("abort", () => reject(failure), { once: true }));
  const run = (async () => {
    try {
      stream = await dial(peer, protocol, { signal: controller.signal });
    } catch (error) {
      throw failure ?? new RequestError("dial", `cannot open a ${protocol} stream: ${message(error)}`);
    }
    if (failure !== undefined) {
      stream.abort(failure);
      throw failure;
    }
    await stream.sink([lp.encode.single(request).subarray()]);
    for await (const chunk of lp.decode(stream.source as AsyncIterable<Uint8Array>, { maxDataLength: options.maxResponseBytes })) {
      answer = chunk.subarray();
      break;
    }
    if (answer === undefined) throw new RequestError("empty", "stream ended without an answer");
    // Awaited: the node allows one outbound store stream at a time, so the next request needs this one gone.
    await stream.close().catch(() => undefined);
    return answer;
  })();
  try {
    return await Promise.race([run, deadline]);
  } catch (error) {
    // An answer in hand is kept when only the closing ran out of time (the timer aborted the stream).
    if (answer !== undefined && failure?.kind === "timeout") return answer;
    if (failure !== undefined) throw failure;
    stream?.abort(error instanceof Error ? error : new Error(String(error)));
    if (error instanceof RequestError) throw error;
    const code = (error as { code?: string; name?: string }).code ?? (error as { name?: string }).name;
    if (code === "InvalidDataLengthError" || code === "InvalidDataLengthLengthError" || code === "ERR_MSG_DATA_TOO_LONG" || code === "ERR_MSG_LENGTH_TOO_LONG") {
      throw new RequestError("too-large", `answer over ${options.maxResponseBytes} bytes`);
    }
    throw new RequestError("broken", message(error));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    run.catch(() => undefined);
    deadline.catch(() => undefined);
  }
}
