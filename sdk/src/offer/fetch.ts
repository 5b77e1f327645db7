// A mail server's offer, fetched: over libp2p (`/status/mailserver/offer/1.0.0`, one
// length-prefixed frame) or over HTTP (the same bytes), bounded in size and time. The document,
// its signature and its checks are document.ts. Isomorphic: no Node built-ins.
import { fetchBoundedBody } from "../core/httpBody.js";
import { MailserverSdkError } from "../errors.js";
import { FrameError, readFrame, type Chunk } from "../waku/frame.js";
import { decodeOffer, invalid, MAX_OFFER_BYTES, OFFER_PROTOCOL, type SignedOffer } from "./document.js";

/** Bytes as libp2p streams yield them: a Uint8Array or a Uint8ArrayList. */
type OfferStream =
  | { source: AsyncIterable<Chunk>; close?(): Promise<void>; abort?(error: Error): void }
  | (AsyncIterable<Chunk> & { close?(): Promise<void>; abort?(error: Error): void });

/** The part of a libp2p node (2 or 3, e.g. @waku/sdk's `waku.libp2p`) this needs. */
export interface OfferLibp2p {
  dialProtocol(peer: never, protocol: string, options?: { signal?: AbortSignal }): Promise<unknown>;
}

export interface FetchOfferOptions {
  libp2p: OfferLibp2p;
  /** The mail server: a peer id or multiaddr object of `libp2p`'s own kind. */
  peer: unknown;
  /** Deadline for dialling and the whole answer, ms (default 10 s). */
  timeoutMs?: number;
}

/**
 * Asks a mail server for its offer over `/status/mailserver/offer/1.0.0` and decodes it (the
 * signature is checked by {@link verifyOffer}). Throws NODE_UNAVAILABLE when the node cannot be
 * reached or gives no answer in time, INVALID_OFFER when the answer is oversized or not an offer.
 */
export async function fetchOffer(options: FetchOfferOptions): Promise<SignedOffer> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeoutMs);
  let stream: OfferStream;
  try {
    stream = (await options.libp2p.dialProtocol(options.peer as never, OFFER_PROTOCOL, { signal })) as OfferStream;
  } catch (error) {
    throw new MailserverSdkError("NODE_UNAVAILABLE", "cannot open the offer protocol to the mail server", { cause: error, details: { protocol: OFFER_PROTOCOL } });
  }
  let frame: Uint8Array;
  try {
    // A stream that stays silent must not hold the caller past the deadline: race the read.
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      onAbort = () => reject(new Error(`no offer within ${timeoutMs} ms`));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      frame = await Promise.race([readOfferFrame("source" in stream ? stream.source : stream), deadline]);
    } finally {
      signal.removeEventListener("abort", onAbort!);
    }
  } catch (error) {
    stream.abort?.(error instanceof Error ? error : new Error(String(error)));
    if (error instanceof MailserverSdkError) throw error;
    throw new MailserverSdkError("NODE_UNAVAILABLE", "the mail server gave no offer", { cause: error, details: { protocol: OFFER_PROTOCOL, timeoutMs } });
  }
  await stream.close?.().catch(() => undefined);
  return decodeOffer(frame);
}

/** Reads the offer's frame; a frame over MAX_OFFER_BYTES or a broken prefix is an INVALID_OFFER. */
async function readOfferFrame(source: AsyncIterable<Chunk>): Promise<Uint8Array> {
  try {
    return await readFrame(source, MAX_OFFER_BYTES);
  } catch (error) {
    if (error instanceof FrameError && error.kind !== "ended") throw invalid(error.message, error.size !== undefined ? { size: error.size } : {});
    throw error;
  }
}

export interface FetchOfferHttpOptions {
  /** Deadline for the whole answer, ms (default 10 s). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/**
 * Reads a mail server's offer over HTTP (`offer.http` of the reference server: `GET …/offer`, the
 * same bytes as the libp2p frame payload), for pages that cannot speak libp2p. Reads at most
 * MAX_OFFER_BYTES. NODE_UNAVAILABLE when unreachable, not 200 or late; INVALID_OFFER otherwise.
 */
export async function fetchOfferHttp(url: string, options: FetchOfferHttpOptions = {}): Promise<SignedOffer> {
  const bytes = await fetchBoundedBody(url, {
    timeoutMs: options.timeoutMs ?? 10_000,
    maxBytes: MAX_OFFER_BYTES,
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
    what: "the mail server's offer",
    tooLarge: (message, size) => invalid(message, { size }),
  });
  return decodeOffer(bytes);
}
