// A quality probe: each round it measures every trusted mail server as an outsider would, signs a
// report with its node key and publishes it. What a round measures of each node:
// - availability: dial and a metadata answer on our cluster within `dialTimeoutMs`, up to
//   `attempts` tries `retryDelayMs` apart (one attempt per round in the report; the retries are
//   the probe's patience, not the node's score); the dialled key must be the registered node id's;
// - latency: `latencySamples` cheap store queries (a page of one hash on the probe's marker topic);
// - completeness: one marker message per shard, pushed by lightpush to a publish peer so it travels
//   by relay like any message, then asked of every node by hash until `graceMs` has passed: the
//   share found, and the median time until found (to the poll interval);
// - retention: markers a node held in earlier rounds are asked again; those younger than the
//   retention its signed offer advertises must still be there (missing ones are dropped early),
//   older ones still served are counted as kept past the promise.
// A node that is down costs the round its dial deadlines; nodes are measured `concurrency` at once.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { multiaddr } from "@multiformats/multiaddr";
import { messageHash } from "@waku/core";
import type { proto_message } from "@waku/proto";
import type { Libp2p } from "libp2p";
import { hexlify, Wallet } from "ethers";
import {
  MAX_PROBE_REPORT_NODES,
  accessGrantMaker,
  presentAccessGrant,
  PROBE_REPORT_CONTENT_TOPIC,
  encodeProbeReport,
  fetchOffer,
  nodeIdFromPrivateKey,
  nodeIdFromPublicKey,
  signProbeReport,
  verifyOffer,
  type NodeMeasure,
  type OfferDocument,
  type SignedProbeReport,
} from "@status/mailserver-sdk";
import type { Dial } from "../exchange.js";
import { silentLogger, type Logger } from "../log.js";
import { pubsubTopicOf } from "../message.js";
import type { DuplexStream } from "../streams.js";
import { askMetadata, cheapQuery, countingDial, emptyTraffic, presentHashes, pushMessage, type Traffic } from "./clients.js";
import type { ProbeConfig } from "./config.js";
import type { ProbeTarget } from "./targets.js";

/** Content topic of the probe's marker messages (valid per 23/WAKU2-TOPICS, so every node relays and archives it). */
export const MARKER_CONTENT_TOPIC = "/status-mailserver/1/probe-marker/json";

/** How long a node's verified offer is reused before it is fetched again, ms. */
const OFFER_TTL_MS = 3_600_000;

export type ProbeSettings = Omit<ProbeConfig, "nodeKeyFile" | "rpcUrl" | "rpcTimeoutMs" | "nodes" | "intervalSeconds" | "http" | "logLevel" | "access">;

export interface ProbeInit extends ProbeSettings {
  privateKey: Uint8Array;
  /** The probe's libp2p node (started). */
  libp2p: Libp2p;
  /** The nodes to measure this round. */
  targets(): Promise<ProbeTarget[]>;
  /**
   * A client key with subscriptions to the nodes that sell access: the probe presents an access
   * grant signed by it to every node whose offer is not free, so that paid-only nodes serve its
   * queries and can be measured. Without it such nodes answer 402 and only their availability is known.
   */
  clientKey?: Uint8Array;
  logger?: Logger;
}

/** A marker the probe published, remembered for retention checks. */
export interface Marker {
  /** Message hash, hex. */
  hash: string;
  pubsubTopic: string;
  /** When it was pushed, ms since the epoch. */
  publishedAt: number;
  /** Node ids that held it when last asked. */
  foundOn: string[];
}

/** One node's measures of a round, with the probe's cost for it. */
export interface NodeRound {
  measure: NodeMeasure;
  /** The address that answered (with `/p2p/`), when the node was up. */
  address: string | undefined;
  /** Why the node was not available, when it was not. */
  failure: string | undefined;
  traffic: Traffic;
}

export interface RoundResult {
  reports: SignedProbeReport[];
  nodes: NodeRound[];
  /** Markers pushed this round (one per shard that a publish peer accepted). */
  markers: number;
  /** Reports a publish peer accepted by lightpush. */
  pushedReports: number;
  /** Pushes of markers and reports, to the publish peers. */
  publishTraffic: Traffic;
  durationMs: number;
}

interface NodeState {
  target: ProbeTarget;
  address: string | undefined;
  failure: string | undefined;
  /** A shard both the node and the probe serve. */
  pubsubTopic: string | undefined;
  latencies: number[];
  /** Fresh markers found (hash → ms after publication), and whether any presence query was answered. */
  found: Map<string, number>;
  answered: boolean;
  retention: { checked: number; droppedEarly: number; keptPastAdvertised: number };
  traffic: Traffic;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/** Runs `work` over `items`, at most `limit` at once, in order of the items. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Nearest-rank percentile of sorted values, rounded to the millisecond. */
function percentile(sorted: readonly number[], p: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!);
}

function medianOf(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return Math.round(sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2);
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 200);

export class Probe {
  readonly nodeId: string;
  readonly #init: ProbeInit;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #offers = new Map<string, { offer: OfferDocument; at: number }>();
  #markers: Marker[] = [];
  /** Traffic per dialled address, and of the pushes to the publish peers, reset each round. */
  #traffic = new Map<string, Traffic>();
  #publishTraffic = emptyTraffic();
  readonly #dial: Dial;
  /** The pushes' own dial, so that a publish peer that is also measured is not charged for them. */
  readonly #publishDial: Dial;

  constructor(init: ProbeInit) {
    this.#init = init;
    this.#log = init.logger ?? silentLogger;
    this.nodeId = nodeIdFromPrivateKey(init.privateKey);
    const raw: Dial = async (peer, protocol, { signal }) => (await init.libp2p.dialProtocol(multiaddr(peer), protocol, { signal })) as unknown as DuplexStream;
    this.#dial = countingDial(raw, (peer) => {
      let t = this.#traffic.get(peer);
      if (t === undefined) this.#traffic.set(peer, (t = emptyTraffic()));
      return t;
    });
    this.#publishDial = countingDial(raw, () => this.#publishTraffic);
  }

  /** Markers remembered for retention checks (oldest first). */
  get markers(): readonly Marker[] {
    return this.#markers;
  }

  /** Loads remembered markers from `file` (missing: none yet). A file that is not ours is an error. */
  async loadState(file: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    let state: { version?: unknown; markers?: unknown } | null;
    try {
      state = JSON.parse(text) as { version?: unknown; markers?: unknown } | null;
    } catch {
      state = null;
    }
    // Not ours, or damaged: stop rather than overwrite it with an empty history.
    if (state?.version !== 1 || !Array.isArray(state.markers)) throw new Error(`${file} is not a probe state file (version 1 JSON): move it away or fix stateFile`);
    this.#markers = (state.markers as Marker[]).filter(
      (m) => typeof m.hash === "string" && /^[0-9a-f]{64}$/.test(m.hash) && typeof m.pubsubTopic === "string" && Number.isSafeInteger(m.publishedAt) && Array.isArray(m.foundOn),
    );
  }

  /** Saves remembered markers (a temporary file, then renamed over the old one). */
  async saveState(file: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify({ version: 1, markers: this.#markers })}\n`);
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Ends a round in progress early (its waits end, its calls keep their own deadlines). */
  stop(): void {
    this.#stop.abort();
  }

  /** One round: measure every target, sign the report(s), push them to the network. */
  async round(): Promise<RoundResult> {
    const init = this.#init;
    const signal = this.#stop.signal;
    const started = Date.now();
    this.#traffic = new Map();
    this.#publishTraffic = emptyTraffic();
    const targets = await init.targets();
    const fresh = await this.#publishMarkers();
    const states = await pool(targets, init.concurrency, (target) => this.#reach(target));
    await this.#pollMarkers(states, fresh, signal);
    await pool(
      states.filter((s) => s.address !== undefined),
      init.concurrency,
      (s) => this.#checkRetention(s),
    );
    this.#remember(states, fresh);
    const ended = Date.now();
    const nodes: NodeRound[] = states.map((s) => ({ measure: this.#measure(s, fresh.length), address: s.address, failure: s.failure, traffic: s.traffic }));
    // One report per MAX_PROBE_REPORT_NODES nodes; a round with no node still says the probe ran.
    const chunks: NodeRound[][] = [];
    for (let i = 0; i < nodes.length; i += MAX_PROBE_REPORT_NODES) chunks.push(nodes.slice(i, i + MAX_PROBE_REPORT_NODES));
    if (chunks.length === 0) chunks.push([]);
    const reports: SignedProbeReport[] = [];
    for (const chunk of chunks) {
      reports.push(
        await signProbeReport(init.privateKey, {
          chainId: init.chainId,
          registry: init.registry,
          periodStart: Math.floor(started / 1000),
          periodEnd: Math.floor(ended / 1000),
          issuedAt: Math.floor(ended / 1000),
          nodes: chunk.map((n) => n.measure),
        }),
      );
    }
    let pushedReports = 0;
    for (const report of reports) {
      const message: proto_message.WakuMessage = { payload: encodeProbeReport(report), contentTopic: PROBE_REPORT_CONTENT_TOPIC, timestamp: BigInt(Date.now()) * 1_000_000n };
      if (await this.#push(pubsubTopicOf(init.clusterId, init.reportShard), message)) pushedReports += 1;
    }
    const result: RoundResult = { reports, nodes, markers: fresh.length, pushedReports, publishTraffic: this.#publishTraffic, durationMs: Date.now() - started };
    this.#log.log("info", "probe-round", {
      nodes: nodes.length,
      up: nodes.filter((n) => n.address !== undefined).length,
      markers: fresh.length,
      reports: reports.length,
      pushedReports,
      ms: result.durationMs,
    });
    return result;
  }

  /** Pushes `message` to the first publish peer that relays it; false when none did. */
  async #push(pubsubTopic: string, message: proto_message.WakuMessage): Promise<boolean> {
    for (const peer of this.#init.publishPeers) {
      try {
        await pushMessage(this.#publishDial, peer, pubsubTopic, message, { timeoutMs: this.#init.queryTimeoutMs, signal: this.#stop.signal });
        return true;
      } catch (error) {
        this.#log.log("warn", "probe-push-failed", { peer, pubsubTopic, contentTopic: message.contentTopic, error: errorText(error) });
      }
    }
    return false;
  }

  async #publishMarkers(): Promise<Marker[]> {
    const markers: Marker[] = [];
    for (const shard of this.#init.shards) {
      const pubsubTopic = pubsubTopicOf(this.#init.clusterId, shard);
      const publishedAt = Date.now();
      const message: proto_message.WakuMessage = {
        payload: new TextEncoder().encode(JSON.stringify({ probe: this.nodeId, shard, at: publishedAt, nonce: randomBytes(8).toString("hex") })),
        contentTopic: MARKER_CONTENT_TOPIC,
        timestamp: BigInt(publishedAt) * 1_000_000n,
      };
      const hash = Buffer.from(messageHash(pubsubTopic, message as never)).toString("hex");
      // A marker no publish peer took says nothing about the nodes: it is not counted.
      if (await this.#push(pubsubTopic, message)) markers.push({ hash, pubsubTopic, publishedAt, foundOn: [] });
    }
    return markers;
  }

  /** Availability (with the identity check), the node's offer, and latency. */
  async #reach(target: ProbeTarget): Promise<NodeState> {
    const init = this.#init;
    const state: NodeState = {
      target,
      address: undefined,
      failure: undefined,
      pubsubTopic: undefined,
      latencies: [],
      found: new Map(),
      answered: false,
      retention: { checked: 0, droppedEarly: 0, keptPastAdvertised: 0 },
      traffic: emptyTraffic(),
    };
    for (let attempt = 0; attempt < init.attempts && state.address === undefined && !this.#stop.signal.aborted; attempt++) {
      if (attempt > 0) await sleep(init.retryDelayMs, this.#stop.signal);
      for (const address of target.addresses) {
        try {
          const shards = await this.#dialAndAsk(target.nodeId, address);
          state.address = shards.address;
          state.failure = undefined;
          const shared = init.shards.find((s) => shards.shards.includes(s)) ?? init.shards[0]!;
          state.pubsubTopic = pubsubTopicOf(init.clusterId, shared);
          break;
        } catch (error) {
          state.failure = errorText(error);
        }
      }
    }
    if (state.address === undefined) {
      this.#log.log("info", "probe-node-down", { nodeId: target.nodeId, error: state.failure ?? "stopped" });
      return this.#withTraffic(state);
    }
    const offer = await this.#offer(target.nodeId, state.address, state);
    if (init.clientKey !== undefined && offer !== undefined && offer.mode !== "free" && offer.escrow !== null) {
      await this.#presentGrant(target.nodeId, state.address, offer.escrow, state);
    }
    for (let i = 0; i < init.latencySamples; i++) {
      const t0 = performance.now();
      try {
        await cheapQuery(this.#dial, state.address, state.pubsubTopic!, MARKER_CONTENT_TOPIC, { timeoutMs: init.queryTimeoutMs, signal: this.#stop.signal });
        state.latencies.push(performance.now() - t0);
      } catch (error) {
        this.#log.log("debug", "probe-query-failed", { nodeId: target.nodeId, error: errorText(error) });
      }
    }
    return this.#withTraffic(state);
  }

  /** Dial (the key must be the node's), then metadata on our cluster, within one deadline. */
  async #dialAndAsk(nodeId: string, address: string): Promise<{ address: string; shards: number[] }> {
    const init = this.#init;
    const deadline = Date.now() + init.dialTimeoutMs;
    const signal = AbortSignal.any([AbortSignal.timeout(init.dialTimeoutMs), this.#stop.signal]);
    const connection = await init.libp2p.dial(multiaddr(address), { signal });
    const key = connection.remotePeer.publicKey?.raw;
    if (key === undefined || nodeIdFromPublicKey(key) !== nodeId) {
      await connection.close().catch(() => undefined);
      throw new Error(`the peer at ${address} is not node ${nodeId}`);
    }
    const peer = address.includes("/p2p/") ? address : `${address}/p2p/${connection.remotePeer.toString()}`;
    const answer = await askMetadata(this.#dial, peer, init, { timeoutMs: Math.max(1, deadline - Date.now()), signal: this.#stop.signal });
    if (answer.clusterId !== init.clusterId) throw new Error(`the node is on cluster ${String(answer.clusterId)}, not ${init.clusterId}`);
    return { address: peer, shards: answer.shards };
  }

  /** The node's verified offer (cached for an hour); none when it serves none or a bad one. */
  async #offer(nodeId: string, address: string, state: NodeState): Promise<OfferDocument | undefined> {
    const cached = this.#offers.get(nodeId);
    if (cached !== undefined && Date.now() - cached.at < OFFER_TTL_MS) return cached.offer;
    const dial = this.#dial;
    try {
      const signed = await fetchOffer({
        libp2p: { dialProtocol: (_peer: never, protocol: string, options?: { signal?: AbortSignal }) => dial(address, protocol, { signal: options?.signal ?? this.#stop.signal }) },
        peer: address,
        timeoutMs: this.#init.queryTimeoutMs,
      });
      const verdict = verifyOffer(signed, { nodeId, chainId: this.#init.chainId });
      if (!verdict.valid) {
        this.#log.log("warn", "probe-offer-refused", { nodeId, reason: verdict.reason, message: verdict.message });
        return undefined;
      }
      this.#offers.set(nodeId, { offer: verdict.offer, at: Date.now() });
      return verdict.offer;
    } catch (error) {
      this.#log.log("debug", "probe-no-offer", { nodeId, error: errorText(error) });
      return undefined;
    } finally {
      this.#withTraffic(state);
    }
  }

  /** Presents an access grant of the probe's client key, bound to the probe's peer id, on the connection to the node. */
  async #presentGrant(nodeId: string, address: string, escrow: string, state: NodeState): Promise<void> {
    const dial = this.#dial;
    const libp2p = {
      peerId: this.#init.libp2p.peerId,
      dialProtocol: (_peer: never, protocol: string, options?: { signal?: AbortSignal }) => dial(address, protocol, { signal: options?.signal ?? this.#stop.signal }),
    };
    try {
      const makeGrant = accessGrantMaker({ signer: new Wallet(hexlify(this.#init.clientKey!)), domain: { chainId: this.#init.chainId, escrow }, nodeId, ttlSeconds: 3600 });
      const grant = await makeGrant(this.#init.libp2p.peerId.toString());
      const answer = await presentAccessGrant(libp2p, address, grant.bytes, { timeoutMs: this.#init.queryTimeoutMs });
      if (!answer.accepted) this.#log.log("warn", "probe-grant-refused", { nodeId, reason: answer.reason });
    } catch (error) {
      this.#log.log("warn", "probe-grant-failed", { nodeId, error: errorText(error) });
    } finally {
      this.#withTraffic(state);
    }
  }

  /** Asks every reachable node for this round's markers it lacks, every poll interval, until the grace period ends. */
  async #pollMarkers(states: NodeState[], fresh: readonly Marker[], signal: AbortSignal): Promise<void> {
    if (fresh.length === 0) return;
    const init = this.#init;
    const publishedAt = Math.min(...fresh.map((m) => m.publishedAt));
    const deadline = publishedAt + init.graceMs;
    const up = states.filter((s) => s.address !== undefined);
    for (let tick = publishedAt + init.pollIntervalMs; ; tick += init.pollIntervalMs) {
      const due = Math.min(tick, deadline);
      await sleep(due - Date.now(), signal);
      const asking = up.filter((s) => s.found.size < fresh.length);
      if (asking.length === 0) return;
      await pool(asking, init.concurrency, async (s) => {
        const missing = fresh.filter((m) => !s.found.has(m.hash));
        try {
          const present = await presentHashes(this.#dial, s.address!, missing.map((m) => Buffer.from(m.hash, "hex")), { timeoutMs: init.queryTimeoutMs, signal });
          s.answered = true;
          const at = Date.now();
          for (const m of missing) if (present.has(m.hash)) s.found.set(m.hash, at - m.publishedAt);
        } catch (error) {
          this.#log.log("debug", "probe-presence-failed", { nodeId: s.target.nodeId, error: errorText(error) });
        }
        this.#withTraffic(s);
      });
      if (due >= deadline || signal.aborted) return;
    }
  }

  /** Markers the node held in earlier rounds, asked again and judged against its offer's retention. */
  async #checkRetention(s: NodeState): Promise<void> {
    const nodeId = s.target.nodeId;
    const offer = this.#offers.get(nodeId)?.offer;
    // Without a verified offer the node promised nothing to hold it to.
    if (offer === undefined) return;
    const held = this.#markers.filter((m) => m.foundOn.includes(nodeId)).slice(0, this.#init.retentionChecks);
    if (held.length === 0) return;
    let present: Set<string>;
    try {
      present = await presentHashes(this.#dial, s.address!, held.map((m) => Buffer.from(m.hash, "hex")), { timeoutMs: this.#init.queryTimeoutMs, signal: this.#stop.signal });
    } catch (error) {
      this.#log.log("debug", "probe-retention-failed", { nodeId, error: errorText(error) });
      return;
    } finally {
      this.#withTraffic(s);
    }
    const now = Date.now();
    const promisedMs = offer.retention.maxAgeSeconds * 1000;
    for (const m of held) {
      const young = promisedMs === 0 || now - m.publishedAt < promisedMs;
      const kept = present.has(m.hash);
      if (young) s.retention.checked += 1;
      if (young && !kept) s.retention.droppedEarly += 1;
      if (!young && kept) s.retention.keptPastAdvertised += 1;
      // A marker gone is counted once: it is not asked of this node again.
      if (!kept) m.foundOn = m.foundOn.filter((id) => id !== nodeId);
    }
  }

  /** Keeps this round's markers that some node held, and at most `maxMarkers` in all (the newest). */
  #remember(states: readonly NodeState[], fresh: readonly Marker[]): void {
    for (const m of fresh) m.foundOn = states.filter((s) => s.found.has(m.hash)).map((s) => s.target.nodeId);
    this.#markers = [...this.#markers, ...fresh].filter((m) => m.foundOn.length > 0).slice(-this.#init.maxMarkers);
  }

  #measure(s: NodeState, markers: number): NodeMeasure {
    const sorted = [...s.latencies].sort((a, b) => a - b);
    const delays = [...s.found.values()];
    return {
      nodeId: s.target.nodeId,
      availability: { attempts: 1, successes: s.address !== undefined ? 1 : 0 },
      latencyMs: { samples: sorted.length, p50: sorted.length === 0 ? null : percentile(sorted, 50), p99: sorted.length === 0 ? null : percentile(sorted, 99) },
      // Only markers some presence query of this node answered about are due: a node that could
      // not be asked is unknown here (its availability already says it was down).
      completeness: { markers: s.answered ? markers : 0, found: s.answered ? s.found.size : 0, medianDelayMs: s.answered ? medianOf(delays) : null },
      retention: { ...s.retention },
    };
  }

  /** Moves what the node's addresses cost into its state. */
  #withTraffic(s: NodeState): NodeState {
    for (const address of [...s.target.addresses, ...(s.address !== undefined ? [s.address] : [])]) {
      const t = this.#traffic.get(address);
      if (t === undefined) continue;
      s.traffic.queries += t.queries;
      s.traffic.bytesSent += t.bytesSent;
      s.traffic.bytesReceived += t.bytesReceived;
      this.#traffic.delete(address);
    }
    return s;
  }
}
