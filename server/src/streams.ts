// One length-prefixed request in, one length-prefixed response out, over a libp2p stream, with a
// size bound and a deadline, so a slow or hostile peer costs one stream and nothing else.
import * as lp from "it-length-prefixed";

/** The part of a libp2p 2 stream used here (structural: libp2p objects stay behind this line). */
export interface DuplexStream {
  source: AsyncIterable<Chunk>;
  sink(source: Iterable<Chunk> | AsyncIterable<Chunk>): Promise<void>;
  close(): Promise<void>;
  abort(error: Error): void;
  /** libp2p's stream state ("open", "closing", "closed", "aborted", "reset"). */
  readonly status?: string;
}

/** A Uint8Array or a Uint8ArrayList (both have `subarray()` giving the bytes). */
export type Chunk = Uint8Array | { subarray(): Uint8Array; byteLength: number };

export class StreamInputError extends Error {
  constructor(
    readonly kind: "too-large" | "timeout" | "empty" | "broken",
    message: string,
  ) {
    super(message);
  }
}

/** Reads the first length-prefixed message of the stream. */
export async function readRequest(stream: DuplexStream, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.abort(new Error("request timeout"));
  }, timeoutMs);
  try {
    for await (const chunk of lp.decode(stream.source as AsyncIterable<Uint8Array>, { maxDataLength: maxBytes })) return chunk.subarray();
    throw new StreamInputError("empty", "stream ended before a request");
  } catch (error) {
    if (error instanceof StreamInputError) throw error;
    if (timedOut) throw new StreamInputError("timeout", `no request within ${timeoutMs} ms`);
    const code = (error as { code?: string; name?: string }).code ?? (error as { name?: string }).name;
    if (code === "ERR_MSG_DATA_TOO_LONG" || code === "InvalidDataLengthError" || code === "ERR_MSG_LENGTH_TOO_LONG" || code === "InvalidDataLengthLengthError") {
      throw new StreamInputError("too-large", `request over ${maxBytes} bytes`);
    }
    throw new StreamInputError("broken", error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
  }
}

/** How long a peer may take to read an answer when the caller names no deadline, ms. */
export const DEFAULT_WRITE_TIMEOUT_MS = 10_000;

export class StreamWriteTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`answer not read within ${timeoutMs} ms`);
  }
}

/** The peer closed or reset its stream before its answer was written: routine, not a fault of the node. */
export class PeerWentAwayError extends Error {
  constructor(readonly reason: string) {
    super(`peer went away: ${reason}`);
  }
}

/**
 * Whether a failed write means that the peer closed or reset the stream: the stream says so, or
 * the muxer's error does (mplex: "Cannot push value onto an ended pushable"; yamux and libp2p:
 * StreamResetError, StreamStateError).
 */
function peerWentAway(stream: DuplexStream, error: unknown): boolean {
  if (stream.status === "reset" || stream.status === "closed" || stream.status === "closing") return true;
  const name = (error as { name?: string; code?: string }).name ?? "";
  const code = (error as { code?: string }).code ?? "";
  const message = error instanceof Error ? error.message : String(error);
  return /StreamReset|StreamState|ERR_STREAM_RESET|ERR_STREAM_ABORT/.test(`${name} ${code}`) || /ended pushable|stream reset|closed for writing|write after end/i.test(message);
}

/**
 * Writes one length-prefixed response and closes the stream, within `timeoutMs`: a peer that stops
 * reading gets its stream aborted, so that it holds neither the handler nor the answer's buffers.
 */
export async function writeResponse(stream: DuplexStream, bytes: Uint8Array, timeoutMs = DEFAULT_WRITE_TIMEOUT_MS): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StreamWriteTimeoutError(timeoutMs)), timeoutMs);
  });
  const write = (async () => {
    await stream.sink([lp.encode.single(bytes).subarray()]);
    await stream.close().catch(() => undefined);
  })();
  try {
    await Promise.race([write, deadline]);
  } catch (error) {
    // The abort ends the pending sink too; its rejection is this one.
    write.catch(() => undefined);
    const went = !(error instanceof StreamWriteTimeoutError) && peerWentAway(stream, error);
    stream.abort(error instanceof Error ? error : new Error(String(error)));
    if (went) throw new PeerWentAwayError(error instanceof Error ? error.message : String(error));
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
