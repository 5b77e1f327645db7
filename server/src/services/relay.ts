// Waku Relay (17/WAKU2-RELAY): gossipsub v1.1 under `/vac/waku/relay/2.0.0`, one pubsub topic per
// shard, WakuMessage protobufs as the data, no signatures, sha256(data) as the message id: what
// nwaku and js-waku run, with nwaku's mesh parameters and peer scoring. Every message of the node's
// shards is validated before gossipsub forwards it (what fails is neither forwarded nor archived,
// and counts against its sender's score), and every valid one is archived.
import { createHash } from "node:crypto";
import { gossipsub, type GossipSub, type GossipsubOpts } from "@chainsafe/libp2p-gossipsub";
import { multiaddr } from "@multiformats/multiaddr";
import { TopicValidatorResult, type Message, type PeerId } from "@libp2p/interface";
import type { ArchiveWriter } from "../ingest.js";
import type { Logger } from "../log.js";
import { checkRelayData, type Checked, type MessageRules } from "../message.js";

export const RELAY_CODEC = "/vac/waku/relay/2.0.0";

export interface RelayLimits {
  /** Static relay peers (multiaddrs with `/p2p/<peer id>`): dialled at start and redialled while away. */
  peers: readonly string[];
  /** How often static peers that are not connected are dialled again, ms. */
  redialIntervalMs: number;
  /** Largest gossipsub RPC read from a peer (it may batch several messages), bytes. */
  maxRpcBytes: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = { peers: [], redialIntervalMs: 10_000, maxRpcBytes: 4 * 1024 * 1024 };

const SECOND = 1000;

/** nwaku's topic score parameters (waku_relay/protocol.nim `TopicParameters`). */
export const WAKU_TOPIC_SCORE = {
  topicWeight: 1,
  // P1: time in mesh
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: SECOND,
  timeInMeshCap: 10,
  // P2: first deliveries
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 10,
  // P3, P3b: off (a quiet shard is not a lazy peer)
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0,
  meshMessageDeliveriesCap: 0,
  meshMessageDeliveriesThreshold: 0,
  meshMessageDeliveriesWindow: 0,
  meshMessageDeliveriesActivation: 0,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0,
  // P4: invalid messages, heavily penalised
  invalidMessageDeliveriesWeight: -100,
  invalidMessageDeliveriesDecay: 0.5,
};

/** Gossipsub options of a Waku relay node: js-waku's message id and signature policy, nwaku's parameters. */
export function wakuGossipsubOptions(pubsubTopics: readonly string[], limits: Pick<RelayLimits, "maxRpcBytes">): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: "StrictNoSign",
    msgIdFn: (message: Message) => createHash("sha256").update(message.data).digest(),
    fallbackToFloodsub: false,
    emitSelf: false,
    // Only the node's own shards: gossipsub's per-topic state stays bounded whatever peers announce.
    allowedTopics: [...pubsubTopics],
    maxInboundDataLength: limits.maxRpcBytes,
    // waku_relay/protocol.nim `GossipsubParameters`
    D: 6,
    Dlo: 4,
    Dhi: 8,
    Dscore: 6,
    Dout: 3,
    Dlazy: 6,
    heartbeatInterval: SECOND,
    mcacheLength: 6,
    mcacheGossip: 3,
    fanoutTTL: 60 * SECOND,
    seenTTL: 120 * SECOND,
    pruneBackoff: 60 * SECOND,
    unsubcribeBackoff: 5 * SECOND,
    floodPublish: true,
    gossipFactor: 0.25,
    scoreParams: {
      topics: Object.fromEntries(pubsubTopics.map((t) => [t, WAKU_TOPIC_SCORE])),
      appSpecificWeight: 0,
      IPColocationFactorWeight: -50,
      IPColocationFactorThreshold: 5,
      behaviourPenaltyWeight: -10,
      behaviourPenaltyDecay: 0.986,
      decayInterval: 12 * SECOND,
      decayToZero: 0.01,
      retainScore: 10 * 60 * SECOND,
    },
    scoreThresholds: { gossipThreshold: -100, publishThreshold: -1000, graylistThreshold: -10_000, opportunisticGraftThreshold: 0 },
  };
}

/** The gossipsub service of a Waku relay node (libp2p service factory). */
export function wakuGossipsub(pubsubTopics: readonly string[], limits: Pick<RelayLimits, "maxRpcBytes">): (components: never) => GossipSub {
  const create = gossipsub(wakuGossipsubOptions(pubsubTopics, limits));
  return (components: never) => {
    const pubsub = create(components as Parameters<typeof create>[0]) as GossipSub;
    // Waku's protocol id instead of meshsub's (js-waku does the same).
    pubsub.multicodecs = [RELAY_CODEC];
    return pubsub;
  };
}

export interface RelayInit {
  rules: MessageRules;
  writer: ArchiveWriter;
  limits: RelayLimits;
  logger: Logger;
  now?: () => number;
}

interface RelayComponents {
  pubsub: GossipSub;
  connectionManager: {
    openConnection(address: ReturnType<typeof multiaddr>, options?: { signal?: AbortSignal }): Promise<unknown>;
    getConnections(): { remotePeer: { toString(): string } }[];
  };
}

export interface RelayStats {
  /** Valid messages received from the mesh. */
  received: number;
  /** Messages refused by validation, by reason. */
  refused: Record<string, number>;
}

/**
 * The node's relay: subscribes its shards, validates what arrives, archives what is valid, and
 * publishes for lightpush. (libp2p service; needs the `pubsub` service of {@link wakuGossipsub}.)
 */
export class WakuRelay {
  readonly #components: RelayComponents;
  readonly #init: RelayInit;
  readonly #now: () => number;
  #redial: ReturnType<typeof setInterval> | undefined;
  #stats: RelayStats = { received: 0, refused: {} };

  constructor(components: RelayComponents, init: RelayInit) {
    this.#components = components;
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  get stats(): RelayStats {
    return { received: this.#stats.received, refused: { ...this.#stats.refused } };
  }

  async start(): Promise<void> {}

  /** libp2p calls this once every service has started (gossipsub refuses subscriptions before). */
  afterStart(): void {
    const pubsub = this.#components.pubsub;
    for (const topic of this.#init.rules.pubsubTopics) {
      pubsub.topicValidators.set(topic, (peer, message) => this.#validate(peer, message));
      pubsub.subscribe(topic);
    }
    if (this.#init.limits.peers.length === 0) return;
    this.#dialStaticPeers();
    this.#redial = setInterval(() => this.#dialStaticPeers(), this.#init.limits.redialIntervalMs);
    this.#redial.unref();
  }

  async stop(): Promise<void> {
    if (this.#redial !== undefined) clearInterval(this.#redial);
    for (const topic of this.#init.rules.pubsubTopics) this.#components.pubsub.topicValidators.delete(topic);
  }

  /** Relay peers subscribed to `topic` (whether or not in the mesh yet): who a publish reaches. */
  peerCount(topic: string): number {
    return this.#components.pubsub.getSubscribers(topic).length;
  }

  /** Peers in the mesh of `topic`. */
  meshPeers(topic: string): string[] {
    return this.#components.pubsub.getMeshPeers(topic);
  }

  /** A peer's gossipsub score (negative after invalid messages). */
  score(peerId: string): number {
    return this.#components.pubsub.getScore(peerId);
  }

  /** Publishes an encoded WakuMessage; resolves to how many peers it was sent to (0: none). */
  async publish(topic: string, data: Uint8Array): Promise<number> {
    try {
      const result = await this.#components.pubsub.publish(topic, data, { allowPublishToZeroTopicPeers: true, ignoreDuplicatePublishError: true });
      return result.recipients.length;
    } catch (error) {
      // Gossipsub throws for a message it has seen: a re-push of a relayed message reached its
      // peers the first time round.
      if (String(error).includes("Duplicate")) return 0;
      throw error;
    }
  }

  #validate(peer: PeerId, message: Message): TopicValidatorResult {
    const checked: Checked = checkRelayData(message.topic, message.data, this.#init.rules, this.#now());
    if (!checked.ok) {
      this.#stats.refused[checked.refusal] = (this.#stats.refused[checked.refusal] ?? 0) + 1;
      this.#init.logger.log("debug", "relay-refused", { peer: peer.toString(), topic: message.topic, refusal: checked.refusal, why: checked.reason });
      // Reject (not Ignore): gossipsub then drops it and charges P4 to the peer that sent it.
      return TopicValidatorResult.Reject;
    }
    this.#stats.received++;
    if (!checked.ephemeral) this.#init.writer.offer(checked.archived);
    return TopicValidatorResult.Accept;
  }

  #dialStaticPeers(): void {
    const connected = new Set(this.#components.connectionManager.getConnections().map((c) => c.remotePeer.toString()));
    for (const address of this.#init.limits.peers) {
      const peer = address.split("/p2p/")[1];
      if (peer !== undefined && connected.has(peer)) continue;
      void this.#components.connectionManager.openConnection(multiaddr(address), { signal: AbortSignal.timeout(10_000) }).then(
        () => this.#init.logger.log("info", "relay-peer-connected", { address }),
        (error: unknown) => this.#init.logger.log("warn", "relay-peer-unreachable", { address, error: String(error) }),
      );
    }
  }
}

/** libp2p service factory for {@link WakuRelay}. */
export function wakuRelay(init: RelayInit): (components: RelayComponents) => WakuRelay {
  return (components) => new WakuRelay(components, init);
}
