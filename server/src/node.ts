// The mail server's libp2p node: transports, muxers and the Waku protocols it serves, wired to the
// archive, the access gate and the admission policy. Protocol handlers stay small: read one
// request (bounded), decide, answer, log.
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import { mplex } from "@libp2p/mplex";
import { ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { webSockets } from "@libp2p/websockets";
import { proto_lightpush, proto_metadata, proto_store } from "@waku/proto";
import { createLibp2p, type Libp2p } from "libp2p";
import { ACCESS_CODEC, encodeGrantAnswer, presentEncodedGrant, type GrantGate } from "./access.js";
import { AdmissionPolicy, PriorityScheduler, type AdmissionLimits, type ServiceMode } from "./admission.js";
import type { Archive, RetentionPolicy } from "./archive/archive.js";
import { EventLoopLoad } from "./load.js";
import { acceptPush, LIGHTPUSH_V2_CODEC, LIGHTPUSH_V3_CODEC, pushResponseV2, pushResponseV3, PushStatus, type PushLimits } from "./lightpush.js";
import { silentLogger, type Logger } from "./log.js";
import { answerStoreQuery, DEFAULT_STORE_LIMITS, STORE_CODEC, storeError, StoreStatus, type StoreLimits, type StoreResponse } from "./store.js";
import { readRequest, StreamInputError, writeResponse, type DuplexStream } from "./streams.js";

export const METADATA_CODEC = "/vac/waku/metadata/1.0.0";

export interface NodeLimits {
  /** Largest store request accepted, bytes. */
  maxStoreRequestBytes: number;
  /** A peer must send its request within this time, ms. */
  requestTimeoutMs: number;
  /** Inbound streams of one protocol open at once on one connection (more are reset). */
  maxStreamsPerProtocol: number;
  maxConnections: number;
}

export const DEFAULT_NODE_LIMITS: NodeLimits = { maxStoreRequestBytes: 64 * 1024, requestTimeoutMs: 10_000, maxStreamsPerProtocol: 32, maxConnections: 1000 };

export interface MailServerNodeOptions {
  /** The node key: secp256k1, 32 bytes. The peer id (`16Uiu2…`) derives from it, as does the ENR's node id. */
  privateKey: Uint8Array;
  /** Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/60000` and `/ip4/0.0.0.0/tcp/8000/ws`. */
  listen: readonly string[];
  /** Addresses to announce instead of the listening ones (public IP / DNS name). */
  announce?: readonly string[];
  clusterId: number;
  shards: readonly number[];
  mode: ServiceMode;
  archive: Archive;
  /** Required unless the mode is `free`. */
  gate?: GrantGate;
  storeLimits?: Partial<StoreLimits>;
  pushLimits?: Partial<Omit<PushLimits, "pubsubTopics">>;
  admission?: Partial<AdmissionLimits>;
  nodeLimits?: Partial<NodeLimits>;
  retention?: RetentionPolicy;
  /** How often retention runs, ms (default 60 s). */
  pruneIntervalMs?: number;
  logger?: Logger;
}

/** `/waku/2/rs/<cluster>/<shard>`: the static-sharding pubsub topic. */
export const pubsubTopicOf = (clusterId: number, shard: number) => `/waku/2/rs/${clusterId}/${shard}`;

interface HandlerContext {
  stream: DuplexStream;
  connection: { remotePeer: { toString(): string } };
}

export class MailServerNode {
  readonly libp2p: Libp2p;
  readonly admission: AdmissionPolicy;
  readonly #scheduler: PriorityScheduler;
  readonly #options: MailServerNodeOptions;
  readonly #store: StoreLimits;
  readonly #push: PushLimits;
  readonly #limits: NodeLimits;
  readonly #log: Logger;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #load: EventLoopLoad | undefined;
  #stopped = false;

  private constructor(libp2p: Libp2p, options: MailServerNodeOptions) {
    this.libp2p = libp2p;
    this.#options = options;
    this.#store = { ...DEFAULT_STORE_LIMITS, ...options.storeLimits };
    this.#push = {
      maxMessageBytes: 150 * 1024,
      maxClockDriftSeconds: 20,
      ...options.pushLimits,
      pubsubTopics: options.shards.map((s) => pubsubTopicOf(options.clusterId, s)),
    };
    this.#limits = { ...DEFAULT_NODE_LIMITS, ...options.nodeLimits };
    this.admission = new AdmissionPolicy(options.mode, options.admission);
    this.#scheduler = new PriorityScheduler(this.admission.limits);
    this.#log = options.logger ?? silentLogger;
  }

  static async create(options: MailServerNodeOptions): Promise<MailServerNode> {
    if (options.mode !== "free" && options.gate === undefined) throw new Error(`mode ${options.mode} needs the access gate`);
    const limits = { ...DEFAULT_NODE_LIMITS, ...options.nodeLimits };
    const libp2p = await createLibp2p({
      // (cast: the hoisted @libp2p/crypto declares its types against another copy of @libp2p/interface)
      privateKey: privateKeyFromRaw(options.privateKey) as unknown as NonNullable<Parameters<typeof createLibp2p>[0]>["privateKey"],
      addresses: { listen: [...options.listen], ...(options.announce !== undefined ? { announce: [...options.announce] } : {}) },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      // @waku/sdk speaks mplex only; a fresh js-waku node opens more than mplex's default of 5
      // streams in its first second, which would get it disconnected.
      streamMuxers: [yamux(), mplex({ disconnectThreshold: 1000 })],
      connectionManager: { maxConnections: limits.maxConnections, inboundConnectionThreshold: 100 },
      services: { identify: identify(), ping: ping() },
      start: false,
    });
    const node = new MailServerNode(libp2p, options);
    await node.#register();
    return node;
  }

  get peerId(): string {
    return this.libp2p.peerId.toString();
  }

  /** Dialable addresses with `/p2p/<peer id>`. */
  get multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map(String);
  }

  get pubsubTopics(): readonly string[] {
    return this.#push.pubsubTopics;
  }

  async start(): Promise<void> {
    await this.libp2p.start();
    if (this.#options.mode === "freemium") this.#load = new EventLoopLoad();
    const every = this.#options.pruneIntervalMs ?? 60_000;
    if (this.#options.retention !== undefined && (this.#options.retention.maxAgeSeconds > 0 || this.#options.retention.maxBytes > 0)) {
      const retention = this.#options.retention;
      const prune = () =>
        void this.#options.archive.prune(retention).then(
          (dropped) => dropped > 0 && this.#log.log("info", "retention", { dropped }),
          (error) => this.#log.log("error", "retention-failed", { error: String(error) }),
        );
      prune();
      this.#pruneTimer = setInterval(prune, every);
      this.#pruneTimer.unref();
    }
    this.#log.log("info", "started", {
      peerId: this.peerId,
      multiaddrs: this.multiaddrs,
      mode: this.#options.mode,
      archive: this.#options.archive.kind,
      pubsubTopics: this.#push.pubsubTopics,
      protocols: this.libp2p.getProtocols(),
    });
  }

  /** Stops accepting, closes connections; the archive is the caller's to close. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
    this.#load?.stop();
    await this.libp2p.stop();
    this.#log.log("info", "stopped", { peerId: this.peerId });
  }

  async #register(): Promise<void> {
    const options = { maxInboundStreams: this.#limits.maxStreamsPerProtocol, maxOutboundStreams: 1 };
    const handle = (codec: string, handler: (ctx: HandlerContext) => Promise<void>) =>
      this.libp2p.handle(codec, (data) => void handler(data as unknown as HandlerContext).catch((error) => this.#log.log("error", "handler-failed", { codec, error: String(error) })), options);
    await handle(METADATA_CODEC, (ctx) => this.#metadata(ctx));
    await handle(STORE_CODEC, (ctx) => this.#storeQuery(ctx));
    await handle(LIGHTPUSH_V3_CODEC, (ctx) => this.#lightpush(ctx, "v3"));
    await handle(LIGHTPUSH_V2_CODEC, (ctx) => this.#lightpush(ctx, "v2"));
    if (this.#options.gate !== undefined) await handle(ACCESS_CODEC, (ctx) => this.#access(ctx, this.#options.gate!));
    this.libp2p.addEventListener("peer:disconnect", (event) => {
      const peer = event.detail.toString();
      this.#options.gate?.forgetPeer(peer);
      this.admission.forget(peer);
    });
  }

  /** Reads the request; on failure drops the stream and logs why. */
  async #read(ctx: HandlerContext, codec: string, maxBytes: number): Promise<Uint8Array | undefined> {
    try {
      return await readRequest(ctx.stream, maxBytes, this.#limits.requestTimeoutMs);
    } catch (error) {
      const kind = error instanceof StreamInputError ? error.kind : "broken";
      this.#log.log("warn", "bad-stream", { codec, peer: ctx.connection.remotePeer.toString(), kind });
      ctx.stream.abort(error instanceof Error ? error : new Error(String(error)));
      return undefined;
    }
  }

  async #metadata(ctx: HandlerContext): Promise<void> {
    const bytes = await this.#read(ctx, METADATA_CODEC, 4096);
    if (bytes === undefined) return;
    try {
      proto_metadata.WakuMetadataRequest.decode(bytes);
    } catch {
      ctx.stream.abort(new Error("malformed metadata request"));
      return;
    }
    await writeResponse(ctx.stream, proto_metadata.WakuMetadataResponse.encode({ clusterId: this.#options.clusterId, shards: [...this.#options.shards] }));
  }

  async #storeQuery(ctx: HandlerContext): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    // The class is known before the request is read: a free peer's stream beyond the free stream
    // caps is reset unread, so a flood of free streams does not get decoded and answered.
    const access = this.#options.gate?.checkPeer(peer) ?? { allowed: false as const, reason: "no-gate" };
    if (access.allowed || this.#options.mode === "paid-only") return this.#storeStream(ctx, peer, access);
    if (!this.admission.openFreeStream(peer)) {
      this.#log.log("debug", "store-stream-reset", { peer, freeStreams: this.admission.freeStreamsOpen });
      ctx.stream.abort(new Error("too many free store streams"));
      return;
    }
    try {
      await this.#storeStream(ctx, peer, access);
    } finally {
      this.admission.closeFreeStream(peer);
    }
  }

  async #storeStream(ctx: HandlerContext, peer: string, access: ReturnType<GrantGate["checkPeer"]> | { allowed: false; reason: string }): Promise<void> {
    const bytes = await this.#read(ctx, STORE_CODEC, this.#limits.maxStoreRequestBytes);
    if (bytes === undefined) return;
    let request: proto_store.StoreQueryRequest;
    try {
      request = proto_store.StoreQueryRequest.decode(bytes);
    } catch {
      this.#log.log("warn", "store-refused", { peer, status: StoreStatus.BAD_REQUEST, why: "malformed" });
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(storeError("", StoreStatus.BAD_REQUEST, "BAD_REQUEST: malformed request")));
      return;
    }
    // Checked again: a client may present its grant on another stream while this one opens.
    // (only a grant that arrived meanwhile counts: the first answer's reason, e.g. grant-expired, stays)
    if (!access.allowed) {
      const again = this.#options.gate?.checkPeer(peer);
      if (again?.allowed) access = again;
    }
    const admission = this.admission.admit(peer, access, { paidInFlight: this.#scheduler.paidInFlight, eventLoopDelayMs: this.#load?.delayMs ?? 0 });
    if (!admission.admitted) {
      this.#log.log("info", "store-refused", { peer, status: admission.statusCode, reason: access.allowed ? undefined : access.reason });
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(storeError(request.requestId, admission.statusCode, admission.statusDesc)));
      return;
    }
    const started = performance.now();
    // The slot is held until the answer is written: that bounds answers in flight, and a slow
    // reader holds a free slot, not a paid one.
    let answered: StoreResponse | undefined;
    const result = await this.#scheduler.run(admission.serviceClass, async () => {
      answered = await answerStoreQuery(request, this.#options.archive, this.#store);
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(answered));
    });
    if (result === undefined) {
      answered = storeError(request.requestId, StoreStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE: overloaded, try later");
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(answered));
    }
    this.#log.log(result === undefined ? "info" : "debug", result === undefined ? "store-shed" : "store-query", {
      peer,
      class: admission.serviceClass,
      clientId: access.allowed ? access.clientId : undefined,
      status: answered?.statusCode,
      messages: answered?.messages.length,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  }

  async #lightpush(ctx: HandlerContext, version: "v2" | "v3"): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    const codec = version === "v3" ? LIGHTPUSH_V3_CODEC : LIGHTPUSH_V2_CODEC;
    // Room for the request's envelope around the largest message.
    const bytes = await this.#read(ctx, codec, this.#push.maxMessageBytes + 4096);
    if (bytes === undefined) return;
    let requestId = "";
    let pubsubTopic: string | undefined;
    let message;
    try {
      if (version === "v3") {
        const request = proto_lightpush.LightPushRequestV3.decode(bytes);
        requestId = request.requestId;
        pubsubTopic = request.pubsubTopic;
        message = request.message;
      } else {
        const rpc = proto_lightpush.PushRpc.decode(bytes);
        requestId = rpc.requestId;
        pubsubTopic = rpc.request?.pubsubTopic;
        message = rpc.request?.message;
      }
    } catch {
      const outcome = { statusCode: PushStatus.BAD_REQUEST, statusDesc: "BAD_REQUEST: malformed request" };
      this.#log.log("warn", "push-refused", { peer, status: outcome.statusCode, why: "malformed" });
      await writeResponse(ctx.stream, version === "v3" ? pushResponseV3(requestId, outcome) : pushResponseV2(requestId, outcome));
      return;
    }
    const outcome = await acceptPush(pubsubTopic, message, this.#options.archive, this.#push);
    this.#log.log(outcome.statusCode === PushStatus.OK ? "debug" : "info", outcome.statusCode === PushStatus.OK ? "pushed" : "push-refused", {
      peer,
      status: outcome.statusCode,
      ...(outcome.statusCode === PushStatus.OK ? { duplicate: outcome.duplicate } : { why: outcome.statusDesc }),
    });
    await writeResponse(ctx.stream, version === "v3" ? pushResponseV3(requestId, outcome) : pushResponseV2(requestId, outcome));
  }

  async #access(ctx: HandlerContext, gate: GrantGate): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    const bytes = await this.#read(ctx, ACCESS_CODEC, 2048);
    if (bytes === undefined) return;
    const answer = await presentEncodedGrant(gate, bytes, { connectionPeerId: peer });
    this.#log.log("info", answer.accepted ? "grant-accepted" : "grant-refused", {
      peer,
      ...(answer.accepted ? { clientId: answer.clientId, until: answer.until } : { reason: answer.reason }),
    });
    await writeResponse(ctx.stream, encodeGrantAnswer(answer));
  }
}
