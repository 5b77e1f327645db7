// The mail server's libp2p node: transports, muxers and the services it runs, composed. Each
// protocol is a service of its own (services/): metadata, store, lightpush, access, and Waku
// Relay on gossipsub, which feeds the archive. This file only wires them and owns retention.
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import { mplex } from "@libp2p/mplex";
import { ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { webSockets } from "@libp2p/websockets";
import { createLibp2p, type Libp2p } from "libp2p";
import type { GrantGate } from "./access.js";
import { AdmissionPolicy, DEFAULT_ADMISSION_LIMITS, type AdmissionLimits, type ServiceMode } from "./admission.js";
import type { Archive, RetentionPolicy } from "./archive/archive.js";
import { DEFAULT_FREE_CONNECTION_LIMITS, enforceFreeConnections, FreeConnectionPolicy, type FreeConnectionLimits } from "./connections.js";
import { ArchiveWriter, type IngestLimits, type IngestStats } from "./ingest.js";
import { silentLogger, type Logger } from "./log.js";
import { DEFAULT_MESSAGE_RULES, pubsubTopicOf, type MessageRules } from "./message.js";
import { offerFields, type OfferTerms } from "./offer.js";
import { pendingHandshakeGate } from "./pendingGate.js";
import { libp2pLogger } from "./libp2pLogger.js";
import { DEFAULT_INBOUND_PRIORITY, InboundPriority, prioritizeInbound, type InboundPriorityLimits } from "./inboundPriority.js";
import { accessService } from "./services/access.js";
import { DEFAULT_PUSH_LIMITS, lightpushService, type PushLimits } from "./services/lightpush.js";
import { metadataService } from "./services/metadata.js";
import { offerService, type OfferService } from "./services/offer.js";
import { DEFAULT_RELAY_LIMITS, wakuGossipsub, wakuRelay, type RelayLimits, type WakuRelay } from "./services/relay.js";
import { storeService } from "./services/store.js";
import { DEFAULT_STORE_LIMITS, type StoreLimits } from "./store.js";

export { pubsubTopicOf } from "./message.js";
export { METADATA_CODEC } from "./services/metadata.js";
export { OFFER_CODEC } from "./services/offer.js";

export interface NodeLimits extends FreeConnectionLimits, InboundPriorityLimits {
  /** Largest store request accepted, bytes. */
  maxStoreRequestBytes: number;
  /** A peer must send its request within this time, ms. */
  requestTimeoutMs: number;
  /** Inbound streams of one protocol open at once on one connection (more are reset). */
  maxStreamsPerProtocol: number;
  /** A peer must read its answer within this time, ms, or its stream is aborted. */
  writeTimeoutMs: number;
  maxConnections: number;
  /** Inbound connections still in their handshake, in total (libp2p's default, 10, let 10 idle sockets lock everyone out). */
  maxPendingConnections: number;
  /** Inbound connections still in their handshake from one IPv4 address or IPv6 /64. */
  maxPendingPerAddress: number;
  /** An inbound connection must finish its handshake (encryption, muxer) within this time, ms. */
  handshakeTimeoutMs: number;
}

export const DEFAULT_NODE_LIMITS: NodeLimits = {
  maxStoreRequestBytes: 64 * 1024,
  requestTimeoutMs: 10_000,
  maxStreamsPerProtocol: 32,
  writeTimeoutMs: 10_000,
  maxConnections: 1000,
  maxPendingConnections: 256,
  maxPendingPerAddress: 8,
  handshakeTimeoutMs: 5_000,
  ...DEFAULT_FREE_CONNECTION_LIMITS,
  ...DEFAULT_INBOUND_PRIORITY,
};

export interface RelayOptions extends Partial<RelayLimits> {
  /** Run Waku Relay (default true). Without it the node archives nothing from the network and serves no lightpush. */
  enabled?: boolean;
}

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
  /** Message rules (size, clock drift) and the lightpush rate limits. */
  pushLimits?: Partial<Omit<MessageRules, "pubsubTopics"> & PushLimits>;
  relay?: RelayOptions;
  ingest?: Partial<IngestLimits>;
  admission?: Partial<AdmissionLimits>;
  nodeLimits?: Partial<NodeLimits>;
  retention?: RetentionPolicy;
  /** How often retention runs, ms (default 60 s). */
  pruneIntervalMs?: number;
  /** Serve a signed offer (`/status/mailserver/offer/1.0.0`) with these terms; re-signed every `refreshSeconds` (default 1 h). */
  offer?: OfferTerms & { refreshSeconds?: number };
  logger?: Logger;
}

export class MailServerNode {
  readonly libp2p: Libp2p;
  readonly admission: AdmissionPolicy;
  /** Every message entering the archive from the network goes through it. */
  readonly ingest: ArchiveWriter;
  readonly #options: MailServerNodeOptions;
  readonly #pubsubTopics: readonly string[];
  readonly #log: Logger;
  /** Paying peers' bytes first (not in `free` mode, where nobody pays). */
  readonly #priority: InboundPriority | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  private constructor(
    libp2p: Libp2p,
    options: MailServerNodeOptions,
    admission: AdmissionPolicy,
    ingest: ArchiveWriter,
    pubsubTopics: readonly string[],
    priority: InboundPriority | undefined,
  ) {
    this.libp2p = libp2p;
    this.#priority = priority;
    this.#options = options;
    this.admission = admission;
    this.ingest = ingest;
    this.#pubsubTopics = pubsubTopics;
    this.#log = options.logger ?? silentLogger;
  }

  static async create(options: MailServerNodeOptions): Promise<MailServerNode> {
    if (options.mode !== "free" && options.gate === undefined) throw new Error(`mode ${options.mode} needs the access gate`);
    const logger = options.logger ?? silentLogger;
    const limits = { ...DEFAULT_NODE_LIMITS, ...options.nodeLimits };
    // By default a fifth of the connections stays for paying and relay peers.
    if (options.nodeLimits?.maxFreeConnections === undefined) limits.maxFreeConnections = Math.floor(limits.maxConnections * 0.8);
    // Every inbound stream tells the connection policy its peer is not idle.
    const connections = new FreeConnectionPolicy(limits);
    const streams = {
      requestTimeoutMs: limits.requestTimeoutMs,
      maxStreamsPerProtocol: limits.maxStreamsPerProtocol,
      writeTimeoutMs: limits.writeTimeoutMs,
      onStream: (peer: string) => connections.touch(peer),
    };
    const pubsubTopics = options.shards.map((s) => pubsubTopicOf(options.clusterId, s));
    const { maxMessageBytes, maxClockDriftSeconds, ...pushLimits } = { ...DEFAULT_MESSAGE_RULES, ...DEFAULT_PUSH_LIMITS, ...options.pushLimits };
    const rules: MessageRules = { maxMessageBytes, maxClockDriftSeconds, pubsubTopics };
    const relayOn = options.relay?.enabled ?? true;
    const { enabled: _enabled, ...relayOptions } = options.relay ?? {};
    const relayLimits: RelayLimits = { ...DEFAULT_RELAY_LIMITS, ...relayOptions };
    const admission = new AdmissionPolicy(options.mode, options.admission);
    const ingest = new ArchiveWriter(options.archive, logger, options.ingest);
    // Lightpush publishes through the relay service, which exists once libp2p does.
    let relay: WakuRelay | undefined;
    const publish = async (topic: string, data: Uint8Array) => relay!.publish(topic, data);

    // Each protocol is a libp2p service (factory of init, then components); relay needs pubsub.
    const services: Record<string, (components: never) => unknown> = {
      identify: identify(),
      ping: ping(),
      metadata: metadataService({ clusterId: options.clusterId, shards: options.shards, streams, logger }),
      store: storeService({
        mode: options.mode,
        archive: options.archive,
        gate: options.gate,
        admission,
        limits: { ...DEFAULT_STORE_LIMITS, ...options.storeLimits },
        maxRequestBytes: limits.maxStoreRequestBytes,
        streams,
        logger,
      }),
      ...(options.gate !== undefined ? { access: accessService({ gate: options.gate, streams, logger }) } : {}),
      ...(options.offer !== undefined
        ? {
            offer: offerService({
              privateKey: options.privateKey,
              fields: offerFields(options.offer, {
                mode: options.mode,
                admission: { ...DEFAULT_ADMISSION_LIMITS, ...options.admission },
                retention: options.retention,
                clusterId: options.clusterId,
                shards: options.shards,
              }),
              ...(options.offer.refreshSeconds !== undefined ? { refreshSeconds: options.offer.refreshSeconds } : {}),
              streams,
              logger,
            }),
          }
        : {}),
      // Lightpush only with relay, as nwaku mounts it: a push must reach the network, not only this node.
      ...(relayOn
        ? {
            pubsub: wakuGossipsub(pubsubTopics, relayLimits),
            relay: wakuRelay({ rules, writer: ingest, limits: relayLimits, logger }),
            lightpush: lightpushService({ rules, writer: ingest, publish, limits: pushLimits, streams, logger }),
          }
        : {}),
    };
    const pendingGate = pendingHandshakeGate({
      maxPending: limits.maxPendingConnections,
      maxPendingPerAddress: limits.maxPendingPerAddress,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
    });
    // Paying peers and relay mesh peers (the mesh this node archives from: bounded by gossipsub's
    // degree, and chosen by this node, so speaking relay alone buys no slot) are never closed for
    // free ones, and their bytes go first. The mesh is read at most once a second.
    let libp2pRef: Libp2p | undefined;
    let mesh = { at: Number.NEGATIVE_INFINITY, peers: new Set<string>() };
    const isProtected = (peer: string) => {
      const now = Date.now();
      if (now - mesh.at >= 1_000 && libp2pRef !== undefined) {
        const pubsub = (libp2pRef.services as { pubsub?: { getMeshPeers(topic: string): string[] } }).pubsub;
        mesh = { at: now, peers: new Set(pubsub === undefined ? [] : pubsubTopics.flatMap((topic) => pubsub.getMeshPeers(topic))) };
      }
      return mesh.peers.has(peer) || options.gate?.checkPeer(peer).allowed === true;
    };
    const priority = options.mode === "free" ? undefined : new InboundPriority(limits);
    const prioritized = priority === undefined ? undefined : prioritizeInbound(priority, isProtected);
    const connectionGater = {
      ...pendingGate,
      denyInboundConnection: async (connection: Parameters<typeof pendingGate.denyInboundConnection>[0] & Parameters<NonNullable<typeof prioritized>["accept"]>[0]) => {
        prioritized?.accept(connection);
        return pendingGate.denyInboundConnection(connection);
      },
      denyInboundEncryptedConnection: async (peer: { toString(): string }, connection: { timeline: object }) => {
        prioritized?.identified(peer.toString(), connection);
        return false;
      },
    };
    const libp2p = await createLibp2p({
      // (cast: the hoisted @libp2p/crypto declares its types against another copy of @libp2p/interface)
      privateKey: privateKeyFromRaw(options.privateKey) as unknown as NonNullable<Parameters<typeof createLibp2p>[0]>["privateKey"],
      addresses: { listen: [...options.listen], ...(options.announce !== undefined ? { announce: [...options.announce] } : {}) },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      // @waku/sdk speaks mplex only; a fresh js-waku node opens more than mplex's default of 5
      // streams in its first second, which would get it disconnected.
      streamMuxers: [yamux(), mplex({ disconnectThreshold: 1000 })],
      // Idle sockets must not keep new clients out: many handshakes may be pending in total, few
      // from one address, and each only briefly.
      connectionManager: {
        maxConnections: limits.maxConnections,
        // Our gate bounds pending handshakes, making the oldest give way when full; libp2p's own
        // bound (which refuses new ones instead) is only a backstop above it.
        maxIncomingPendingConnections: 2 * limits.maxPendingConnections,
        inboundUpgradeTimeout: limits.handshakeTimeoutMs,
        // New connections per address per second (libp2p's default is 5; clients behind one NAT share an address).
        inboundConnectionThreshold: 100,
      },
      connectionGater: connectionGater as never,
      services: services as never,
      // (undefined: libp2p's own, which reads DEBUG)
      logger: libp2pLogger(),
      start: false,
    });
    relay = (libp2p.services as { relay?: WakuRelay }).relay;
    libp2pRef = libp2p;
    const node = new MailServerNode(libp2p, options, admission, ingest, pubsubTopics, priority);
    let pending = false;
    const enforce = () => {
      pending = false;
      if (node.#stopped) return;
      enforceFreeConnections(libp2p as never, connections, isProtected, logger);
    };
    // Connections opened in one turn of the event loop are looked at once.
    const soon = () => {
      if (pending) return;
      pending = true;
      setImmediate(enforce);
    };
    libp2p.addEventListener("connection:open", () => {
      soon();
      // A newcomer over the bound is closed when its grace ends, unless it paid meanwhile.
      setTimeout(soon, limits.connectionGraceMs + 10).unref();
    });
    libp2p.addEventListener("peer:disconnect", (event) => {
      const peer = event.detail.toString();
      options.gate?.forgetPeer(peer);
      admission.forget(peer);
      connections.forget(peer);
    });
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
    return this.#pubsubTopics;
  }

  /** The Waku Relay service (undefined when relay is off). */
  get relay(): WakuRelay | undefined {
    return (this.libp2p.services as { relay?: WakuRelay }).relay;
  }

  /** The offer service (undefined without the `offer` option). */
  get offer(): OfferService | undefined {
    return (this.libp2p.services as { offer?: OfferService }).offer;
  }

  /** Free peers' chunks held back for paying peers: waiting now, let in after waiting, the longest wait (ms). Undefined in `free` mode. */
  get priorityStats(): { waiting: number; waited: number; longestWaitMs: number } | undefined {
    const p = this.#priority;
    return p === undefined ? undefined : { waiting: p.waiting, waited: p.waited, longestWaitMs: p.longestWaitMs };
  }

  get ingestStats(): IngestStats {
    return this.ingest.stats;
  }

  async start(): Promise<void> {
    await this.libp2p.start();
    const every = this.#options.pruneIntervalMs ?? 60_000;
    const retention = this.#options.retention;
    if (retention !== undefined && (retention.maxAgeSeconds > 0 || retention.maxBytes > 0 || (retention.minFreeDiskBytes ?? 0) > 0)) {
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
      pubsubTopics: this.#pubsubTopics,
      relay: this.relay !== undefined,
      protocols: this.libp2p.getProtocols(),
    });
  }

  /** Stops accepting, closes connections, writes what the network already delivered; the archive is the caller's to close. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
    // Waiting free bytes go on, so that their connections can close.
    this.#priority?.drain();
    await this.libp2p.stop();
    await this.ingest.drain();
    this.#log.log("info", "stopped", { peerId: this.peerId });
  }
}
