// What every request/response protocol service of the node shares: the slice of libp2p it uses
// (structural, so that libp2p's objects stay behind this line), registration with per-protocol
// stream limits, and reading one bounded request with a deadline.
import type { StreamHandler, StreamHandlerOptions } from "@libp2p/interface";
import type { Logger } from "../log.js";
import { PeerWentAwayError, readRequest, StreamInputError, StreamWriteTimeoutError, type DuplexStream } from "../streams.js";

/** What a protocol handler is given for one inbound stream. */
export interface HandlerContext {
  stream: DuplexStream;
  connection: { remotePeer: { toString(): string } };
}

/** The part of libp2p's registrar the services use. */
export interface Registrar {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
  unhandle(protocol: string): Promise<void>;
}

/** The node-wide limits of every request/response protocol. */
export interface StreamLimits {
  /** A peer must send its request within this time, ms. */
  requestTimeoutMs: number;
  /** Inbound streams of one protocol open at once on one connection (more are reset). */
  maxStreamsPerProtocol: number;
  /** A peer must read its answer within this time, ms, or its stream is aborted (default 10 s). */
  writeTimeoutMs?: number;
  /** Told the peer of every inbound stream (the connection policy's activity). */
  onStream?: (peer: string) => void;
}

/**
 * Registers `handler` for `codec`. A handler's failure costs that stream only and never reaches
 * libp2p: a peer that goes away mid-answer or stops reading is logged at info (routine), anything
 * else at warn.
 */
export async function serve(registrar: Registrar, codec: string, limits: StreamLimits, logger: Logger, handler: (ctx: HandlerContext) => Promise<void>): Promise<void> {
  await registrar.handle(
    codec,
    (incoming) => {
      const data = incoming as unknown as HandlerContext;
      limits.onStream?.(data.connection.remotePeer.toString());
      void handler(data).catch((error: unknown) => {
        // A peer that stops reading or goes away is the peer's doing (info); anything else may be the node's (warn).
        const peer = data.connection.remotePeer.toString();
        if (error instanceof StreamWriteTimeoutError) logger.log("info", "answer-not-read", { codec, peer, error: error.message });
        else if (error instanceof PeerWentAwayError) logger.log("info", "peer-went-away", { codec, peer, reason: error.reason });
        else logger.log("warn", "handler-failed", { codec, peer, error: String(error) });
        data.stream.abort(error instanceof Error ? error : new Error(String(error)));
      });
    },
    { maxInboundStreams: limits.maxStreamsPerProtocol, maxOutboundStreams: 1 },
  );
}

/** Reads the request; on failure drops the stream, logs why and resolves to undefined. */
export async function readOrDrop(ctx: HandlerContext, codec: string, maxBytes: number, limits: StreamLimits, logger: Logger): Promise<Uint8Array | undefined> {
  try {
    return await readRequest(ctx.stream, maxBytes, limits.requestTimeoutMs);
  } catch (error) {
    const kind = error instanceof StreamInputError ? error.kind : "broken";
    // A stream closed or reset before its request is a peer going away, and one left without a
    // request past the deadline is what @waku/sdk does with the streams it opens ahead of its
    // queries (info); only a request over the size bound is the peer misbehaving (warn).
    const routine = kind !== "too-large";
    logger.log(routine ? "info" : "warn", "bad-stream", { codec, peer: ctx.connection.remotePeer.toString(), kind, ...(error instanceof Error ? { reason: error.message } : {}) });
    ctx.stream.abort(error instanceof Error ? error : new Error(String(error)));
    return undefined;
  }
}
