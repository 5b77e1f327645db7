// The lightpush service: one request in, one answer out. A valid message is archived and
// published on the relay mesh; the answer carries the relay peer count, or 505 with none.
import { LIGHTPUSH_V2_CODEC, LIGHTPUSH_V3_CODEC, PushStatus, decodePushRequest, publishedOutcome, pushResponseV2, pushResponseV3, refusedOutcome, stamped, type PushOutcome, type PushRequest } from "../lightpush.js";
import type { ArchiveWriter } from "../ingest.js";
import type { Logger } from "../log.js";
import { checkMessage, type MessageRules } from "../message.js";
import { RateLimiter, type RateLimit } from "../rateLimit.js";
import { writeResponse } from "../streams.js";
import { readOrDrop, serve, type HandlerContext, type Registrar, type StreamLimits } from "./protocol.js";

export interface PushLimits extends RateLimit {
  /** Peers whose push buckets are remembered at once (least recently used go first). */
  maxTrackedPeers: number;
}

/**
 * Per peer 20 pushes/s with a burst of 100 (a client sending its outbox after a reconnect), 500/s
 * for everyone: at nwaku's 150 KiB bound a peer moves at most 3 MB/s, all peers together 75 MB/s.
 */
export const DEFAULT_PUSH_LIMITS: PushLimits = { perSecond: 20, burst: 100, totalPerSecond: 500, maxTrackedPeers: 10_000 };

/** Publishes an encoded message on the relay mesh; resolves to the number of peers reached. */
export type Publish = (pubsubTopic: string, data: Uint8Array) => Promise<number>;

export interface LightpushInit {
  rules: MessageRules;
  writer: ArchiveWriter;
  publish: Publish;
  limits: PushLimits;
  streams: StreamLimits;
  logger: Logger;
  now?: () => number;
}

export class LightpushService {
  readonly #registrar: Registrar;
  readonly #init: LightpushInit;
  readonly #limiter: RateLimiter;
  readonly #now: () => number;

  constructor(components: { registrar: Registrar }, init: LightpushInit) {
    this.#registrar = components.registrar;
    this.#init = init;
    this.#limiter = new RateLimiter(init.limits, init.limits.maxTrackedPeers);
    this.#now = init.now ?? Date.now;
  }

  async start(): Promise<void> {
    await serve(this.#registrar, LIGHTPUSH_V3_CODEC, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx, "v3"));
    await serve(this.#registrar, LIGHTPUSH_V2_CODEC, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx, "v2"));
  }

  async stop(): Promise<void> {
    await this.#registrar.unhandle(LIGHTPUSH_V3_CODEC);
    await this.#registrar.unhandle(LIGHTPUSH_V2_CODEC);
  }

  async #handle(ctx: HandlerContext, version: "v2" | "v3"): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    const codec = version === "v3" ? LIGHTPUSH_V3_CODEC : LIGHTPUSH_V2_CODEC;
    // Room for the envelope and for a message somewhat over the bound, so that it gets nwaku's
    // answer (420) instead of a reset stream.
    const bytes = await readOrDrop(ctx, codec, this.#init.rules.maxMessageBytes + 64 * 1024, this.#init.streams, this.#init.logger);
    if (bytes === undefined) return;
    let request: PushRequest | undefined;
    let outcome: PushOutcome;
    try {
      request = decodePushRequest(version, bytes);
      outcome = this.#limiter.take(peer, this.#now())
        ? await this.#push(request)
        : { statusCode: PushStatus.TOO_MANY_REQUESTS, statusDesc: "TOO_MANY_REQUESTS: Request rejected due to too many requests", relayPeerCount: 0 };
    } catch {
      outcome = refusedOutcome("malformed", "malformed request");
    }
    const ok = outcome.statusCode === PushStatus.OK;
    this.#init.logger.log(ok || outcome.statusCode === PushStatus.NO_PEERS_TO_RELAY ? "debug" : "info", ok ? "pushed" : "push-refused", {
      peer,
      status: outcome.statusCode,
      relayPeers: outcome.relayPeerCount,
      ...(ok ? {} : { why: outcome.statusDesc }),
    });
    const requestId = request?.requestId ?? "";
    await writeResponse(ctx.stream, version === "v3" ? pushResponseV3(requestId, outcome) : pushResponseV2(requestId, outcome), this.#init.streams.writeTimeoutMs);
  }

  async #push(request: PushRequest): Promise<PushOutcome> {
    if (request.message === undefined) return refusedOutcome("malformed", "no message");
    // Static sharding: nwaku needs the pubsub topic (it answers 420 without one).
    if (request.pubsubTopic === undefined) return refusedOutcome("invalid", "Pubsub topic must be specified when static sharding is enabled");
    const nowMs = this.#now();
    const message = stamped(request.message, nowMs);
    const checked = checkMessage(request.pubsubTopic, message, this.#init.rules, nowMs);
    if (!checked.ok) return refusedOutcome(checked.refusal, checked.reason);
    // Archived whether or not a relay peer takes it (as nwaku's relay hands its own publishes to
    // its archive); the answer is about the network.
    const archived = checked.ephemeral ? Promise.resolve("ephemeral") : this.#init.writer.write(checked.archived);
    let peers: number;
    try {
      peers = await this.#init.publish(request.pubsubTopic, checked.archived.message);
    } catch (error) {
      this.#init.logger.log("warn", "publish-failed", { error: String(error) });
      peers = 0;
    }
    if ((await archived) === "failed" && peers === 0) {
      return { statusCode: PushStatus.INTERNAL_ERROR, statusDesc: "INTERNAL_ERROR: archive unavailable and no relay peers", relayPeerCount: 0 };
    }
    return publishedOutcome(peers);
  }
}

export function lightpushService(init: LightpushInit): (components: { registrar: Registrar }) => LightpushService {
  return (components) => new LightpushService(components, init);
}
