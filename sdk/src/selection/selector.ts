// Picking a mail server: discover -> verify (one batched call) -> probe -> choose among the fastest.
import { parseEnr } from "../enr.js";
import { MailserverSdkError, type ErrorCode } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";
import {
  combineSources,
  StaticEnrSource,
  type DiscoveredNode,
  type DiscoveryResult,
  type DiscoverySource,
} from "../discovery/sources.js";
import type { NodeVerdict } from "../verify.js";
import { TypedEmitter } from "./emitter.js";
import { createDiscv5Probe, type ProbeFn, type ProbeResult } from "./probe.js";

/**
 * How the verifier classifies a node.
 * @deprecated The same concept as `NodeVerdict` (root entry); use that name.
 */
export type NodeTrustStatus = NodeVerdict;

/** What the selector needs from a verification result (the SDK's `verifyNodes` returns more). */
export interface VerifiedNodeLike {
  /** May be undefined for an ENR the verifier could not decode (matched by position then). */
  nodeId: string | undefined;
  status: NodeVerdict;
  reasons: readonly string[];
  /** The discovered ENR's endpoint differs from the registered record (see `rejectEndpointMismatch`). */
  endpointMismatch?: boolean;
}

/** Verifies many ENRs in one batched call (e.g. `(enrs) => verifyNodes(enrs)` of the SDK). */
export type VerifyFn<V extends VerifiedNodeLike = VerifiedNodeLike> = (enrs: string[]) => Promise<readonly V[]>;

/** A node that may be selected. */
export interface Candidate<V extends VerifiedNodeLike = VerifiedNodeLike> {
  nodeId: string;
  enr: string;
  /** `custom` for nodes the user added by hand (customNodes / a pinned ENR) or the verifier called custom. */
  status: "trusted" | "custom";
  /** True when the node came from `customNodes` or is the pinned ENR. */
  userAdded: boolean;
  /** The verifier's full answer (its `reasons` are kept even for accepted custom nodes). */
  verification: V;
  /** Measured round-trip time (absent for a pinned node, which is not probed). */
  rttMs?: number;
}

export interface SelectedNode<V extends VerifiedNodeLike = VerifiedNodeLike> extends Candidate<V> {
  pinned: boolean;
  /** Whether `preferSubscribed` said yes for this node. */
  subscribed: boolean;
}

export interface RejectedNode<V extends VerifiedNodeLike = VerifiedNodeLike> {
  nodeId: string;
  enr: string;
  reasons: readonly string[];
  verification: V;
}

export interface GraylistEntry {
  nodeId: string;
  /** Clock time (ms) until which the node is skipped. */
  until: number;
}

/** Selector events and their payloads. */
export type SelectorEvents<V extends VerifiedNodeLike = VerifiedNodeLike> = {
  /** Discovery finished: merged nodes, invalid ENRs and failed sources. */
  discovered: (result: DiscoveryResult) => void;
  /** Every discovered node was verified (one batched call): accepted and rejected. */
  verified: (result: { accepted: Candidate<V>[]; rejected: RejectedNode<V>[] }) => void;
  /** An untrusted node: never selected. */
  rejected: (node: RejectedNode<V>) => void;
  /** A candidate did not answer the probe (counts as a failure). */
  unreachable: (result: { nodeId: string; error: string }) => void;
  /** A node was chosen. `poolSize`: reachable candidates considered; `fastest`: how many were drawn from. */
  selected: (result: { node: SelectedNode<V>; poolSize: number; fastest: number }) => void;
  /** A node failed `failuresToGraylist` times in a row and is skipped until `until`. */
  graylisted: (entry: GraylistEntry & { failures: number; reason?: string }) => void;
};

export interface MailserverSelectorOptions<V extends VerifiedNodeLike = VerifiedNodeLike> {
  /** Where nodes come from (crawler, registry, static lists); run in parallel and merged. */
  sources?: readonly DiscoverySource[];
  /** Batched verification of all discovered ENRs. */
  verify: VerifyFn<V>;
  /** RTT probe; default a discv5 PING ({@link createDiscv5Probe}) bound to `probeBindIp`. */
  probe?: ProbeFn;
  /** Bind address of the default probe's ephemeral node (default "0.0.0.0"). */
  probeBindIp?: string;
  /** Per-node probe budget in ms (default 2000). */
  probeTimeoutMs?: number;
  /** How long a graylisted node is skipped, ms (default 3 minutes). */
  graylistMs?: number;
  /** Consecutive failures that graylist a node (default 2). */
  failuresToGraylist?: number;
  /** How long probed candidates are reused by `select()` before discovering again, ms (default 60 s). */
  cacheMs?: number;
  /** Nodes with an active subscription are preferred when this says so for any reachable node. */
  preferSubscribed?: (nodeId: string) => boolean | Promise<boolean>;
  /**
   * Use this node (node id or ENR text) without selection. It is still verified: an untrusted
   * pinned node id is refused (UNTRUSTED_NODE); a pinned ENR counts as added by hand (custom).
   */
  pinned?: string;
  /** ENRs the user added by hand: always candidates (status `custom`) unless their ENR is invalid. */
  customNodes?: readonly string[];
  /**
   * Refuse a node whose discovered ENR points elsewhere than its registered record, even when the
   * verifier calls it trusted (reason "endpoint-mismatch"). Default true: the registered record is
   * what the provider vouched for. Hand-added nodes are exempt.
   */
  rejectEndpointMismatch?: boolean;
  /** Random source in [0, 1) (default Math.random), for tests. */
  random?: () => number;
  /** Clock in ms (default Date.now), for tests. */
  clock?: () => number;
}

export interface SelectOptions {
  /** Discover, verify and probe again even if cached candidates are fresh. */
  refresh?: boolean;
  signal?: AbortSignal;
}

export const DEFAULT_GRAYLIST_MS = 3 * 60 * 1000;
export const DEFAULT_PROBE_TIMEOUT_MS = 2000;

/**
 * Chooses a mail server.
 *
 * `select()`: discover (all sources + custom nodes) -> verify ALL with one `verify` call ->
 * untrusted nodes are reported (`rejected`) and never selected; trusted and custom nodes are
 * candidates -> candidates that are not graylisted are probed in parallel (timeout each) ->
 * sorted by RTT, one is drawn at random among the fastest quarter (at least one); with
 * `preferSubscribed`, only subscribed nodes are drawn from when any is reachable. Probed
 * candidates are cached for `cacheMs`, so moving on after a failure needs no new crawl.
 *
 * Failures: `reportFailure(nodeId)` twice in a row (probe failures count too) graylists a node for
 * `graylistMs`; `reportSuccess(nodeId)` resets its count. Call `select()` again to move on.
 *
 * Pinned node: no discovery (unless pinned by id and not among `customNodes`), no probe, no
 * draw; but it is verified and refused when untrusted (see `pinned`) or graylisted.
 */
export class MailserverSelector<V extends VerifiedNodeLike = VerifiedNodeLike> extends TypedEmitter<SelectorEvents<V>> {
  readonly #sources: readonly DiscoverySource[];
  readonly #verify: VerifyFn<V>;
  readonly #probe: ProbeFn;
  readonly #probeTimeoutMs: number;
  readonly #graylistMs: number;
  readonly #failuresToGraylist: number;
  readonly #cacheMs: number;
  readonly #preferSubscribed: MailserverSelectorOptions<V>["preferSubscribed"];
  readonly #pinned: string | undefined;
  readonly #customEnrs: readonly string[];
  readonly #customIds: ReadonlySet<string>;
  readonly #rejectEndpointMismatch: boolean;
  readonly #random: () => number;
  readonly #clock: () => number;

  readonly #failures = new Map<string, number>();
  readonly #graylist = new Map<string, number>();
  #cache: { at: number; candidates: Candidate<V>[] } | undefined;
  #current: SelectedNode<V> | undefined;

  constructor(options: MailserverSelectorOptions<V>) {
    super();
    this.#sources = [...(options.sources ?? [])];
    this.#verify = options.verify;
    this.#probe = options.probe ?? createDiscv5Probe({ bindIp: options.probeBindIp ?? "0.0.0.0" });
    this.#probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.#graylistMs = options.graylistMs ?? DEFAULT_GRAYLIST_MS;
    this.#failuresToGraylist = Math.max(1, options.failuresToGraylist ?? 2);
    this.#cacheMs = options.cacheMs ?? 60_000;
    this.#preferSubscribed = options.preferSubscribed;
    this.#pinned = options.pinned?.trim();
    this.#customEnrs = [...(options.customNodes ?? [])];
    const ids = new Set<string>();
    for (const text of this.#customEnrs) {
      try {
        ids.add(parseEnr(text).nodeId);
      } catch {
        // Reported as invalid by discovery.
      }
    }
    this.#customIds = ids;
    this.#rejectEndpointMismatch = options.rejectEndpointMismatch ?? true;
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? Date.now;
  }

  /** The last selected node, until it is graylisted. */
  get current(): SelectedNode<V> | undefined {
    return this.#current;
  }

  /** Candidates from the last discovery round, fastest first (graylisted ones included). */
  get candidates(): readonly Candidate<V>[] {
    return this.#cache?.candidates ?? [];
  }

  /** Chooses a node (see the class comment). Throws NO_NODE_AVAILABLE when nothing can be used. */
  async select(options: SelectOptions = {}): Promise<SelectedNode<V>> {
    if (this.#pinned !== undefined && this.#pinned !== "") return this.#selectPinned(options);
    const cached =
      !options.refresh && this.#cache !== undefined && this.#clock() - this.#cache.at < this.#cacheMs
        ? this.#cache.candidates.filter((c) => !this.isGraylisted(c.nodeId))
        : [];
    const pool = cached.length > 0 ? cached : await this.#refresh(options);
    if (pool.length === 0) {
      throw sdkError("NO_NODE_AVAILABLE", "no trusted mail server is reachable", {
        graylisted: this.graylisted().map((g) => g.nodeId),
      });
    }
    return this.#choose(pool);
  }

  /**
   * Records a failed request to `nodeId`. After `failuresToGraylist` consecutive failures the node
   * is graylisted for `graylistMs` (and stops being `current`); call `select()` to move on.
   */
  reportFailure(nodeId: string, reason?: string): { failures: number; graylisted: boolean; until?: number } {
    const id = normalizeNodeId(nodeId);
    const failures = (this.#failures.get(id) ?? 0) + 1;
    if (failures < this.#failuresToGraylist) {
      this.#failures.set(id, failures);
      return { failures, graylisted: false };
    }
    this.#failures.delete(id);
    const until = this.#clock() + this.#graylistMs;
    this.#graylist.set(id, until);
    if (this.#current?.nodeId === id) this.#current = undefined;
    this.emit("graylisted", { nodeId: id, until, failures, ...(reason !== undefined ? { reason } : {}) });
    return { failures, graylisted: true, until };
  }

  /** Records a successful request: the node's failure count starts over. */
  reportSuccess(nodeId: string): void {
    this.#failures.delete(normalizeNodeId(nodeId));
  }

  isGraylisted(nodeId: string): boolean {
    const id = normalizeNodeId(nodeId);
    const until = this.#graylist.get(id);
    if (until === undefined) return false;
    if (until > this.#clock()) return true;
    this.#graylist.delete(id);
    return false;
  }

  /** Nodes currently graylisted. */
  graylisted(): GraylistEntry[] {
    const now = this.#clock();
    const out: GraylistEntry[] = [];
    for (const [nodeId, until] of this.#graylist) {
      if (until > now) out.push({ nodeId, until });
      else this.#graylist.delete(nodeId);
    }
    return out;
  }

  /** Forgets graylisting (one node or all). */
  clearGraylist(nodeId?: string): void {
    if (nodeId === undefined) this.#graylist.clear();
    else this.#graylist.delete(normalizeNodeId(nodeId));
  }

  // -------------------------------------------------------------------------------------------

  async #discover(options: SelectOptions): Promise<DiscoveryResult> {
    const sources = [...this.#sources];
    if (this.#customEnrs.length > 0) sources.push(new StaticEnrSource(this.#customEnrs, "custom"));
    const result = await combineSources(...sources).discoverDetailed(options.signal ? { signal: options.signal } : {});
    this.emit("discovered", result);
    return result;
  }

  /** One batched verify call; custom (hand-added) nodes are accepted even when untrusted. */
  async #classify(nodes: readonly Pick<DiscoveredNode, "nodeId" | "enr">[], handAdded: (nodeId: string) => boolean) {
    const results = nodes.length === 0 ? [] : await this.#verify(nodes.map((n) => n.enr));
    const byId = new Map<string, V>();
    for (const r of results) {
      if (r.nodeId === undefined) continue;
      try {
        byId.set(normalizeNodeId(r.nodeId), r);
      } catch {
        // A result without a usable node id cannot be matched.
      }
    }
    const accepted: Candidate<V>[] = [];
    const rejected: RejectedNode<V>[] = [];
    for (const node of nodes) {
      const verification =
        byId.get(node.nodeId) ?? ({ nodeId: node.nodeId, status: "untrusted", reasons: ["not verified"] } as VerifiedNodeLike as V);
      const userAdded = handAdded(node.nodeId);
      if (!userAdded) {
        if (verification.status === "untrusted") {
          rejected.push({ nodeId: node.nodeId, enr: node.enr, reasons: verification.reasons, verification });
          continue;
        }
        if (this.#rejectEndpointMismatch && verification.endpointMismatch === true) {
          rejected.push({ nodeId: node.nodeId, enr: node.enr, reasons: [...verification.reasons, "endpoint-mismatch"], verification });
          continue;
        }
      }
      const status = verification.status === "trusted" ? "trusted" : "custom";
      accepted.push({ nodeId: node.nodeId, enr: node.enr, status, userAdded, verification });
    }
    for (const r of rejected) this.emit("rejected", r);
    this.emit("verified", { accepted, rejected });
    return { accepted, rejected };
  }

  async #refresh(options: SelectOptions): Promise<Candidate<V>[]> {
    const discovery = await this.#discover(options);
    const { accepted } = await this.#classify(discovery.nodes, (id) => this.#customIds.has(id));
    const targets = accepted.filter((c) => !this.isGraylisted(c.nodeId));
    const results: ProbeResult[] =
      targets.length === 0 ? [] : await this.#probe(targets.map((c) => ({ nodeId: c.nodeId, enr: c.enr })), { timeoutMs: this.#probeTimeoutMs });
    const rtt = new Map<string, number>();
    for (const r of results) {
      const id = normalizeNodeId(r.nodeId);
      if (r.rttMs !== undefined && Number.isFinite(r.rttMs)) rtt.set(id, r.rttMs);
    }
    const reachable: Candidate<V>[] = [];
    for (const c of targets) {
      const ms = rtt.get(c.nodeId);
      if (ms === undefined) {
        const error = results.find((r) => normalizeNodeId(r.nodeId) === c.nodeId)?.error ?? "no probe result";
        this.emit("unreachable", { nodeId: c.nodeId, error });
        this.reportFailure(c.nodeId, `probe: ${error}`);
        continue;
      }
      reachable.push({ ...c, rttMs: ms });
    }
    reachable.sort((a, b) => a.rttMs! - b.rttMs!);
    this.#cache = { at: this.#clock(), candidates: reachable };
    return reachable;
  }

  async #choose(candidates: readonly Candidate<V>[]): Promise<SelectedNode<V>> {
    let pool = [...candidates].sort((a, b) => (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity));
    let subscribed = false;
    if (this.#preferSubscribed !== undefined) {
      const prefer = this.#preferSubscribed;
      const flags = await Promise.all(pool.map(async (c) => await askPreference(prefer, c.nodeId)));
      const subs = pool.filter((_, i) => flags[i]);
      if (subs.length > 0) {
        pool = subs;
        subscribed = true;
      }
    }
    const fastest = Math.max(1, Math.floor(pool.length / 4));
    const index = Math.min(fastest - 1, Math.floor(this.#random() * fastest));
    const node: SelectedNode<V> = { ...pool[index]!, pinned: false, subscribed };
    this.#current = node;
    this.emit("selected", { node, poolSize: pool.length, fastest });
    return node;
  }

  async #selectPinned(options: SelectOptions): Promise<SelectedNode<V>> {
    const pinned = this.#pinned!;
    let enr: string;
    let nodeId: string;
    let handAdded: boolean;
    if (pinned.startsWith("enr:")) {
      const parsed = parseEnr(pinned); // INVALID_ENR when broken
      enr = parsed.enr;
      nodeId = parsed.nodeId;
      handAdded = true;
    } else {
      nodeId = normalizeNodeId(pinned);
      handAdded = this.#customIds.has(nodeId);
      let found = this.#customEnrs.find((text) => {
        try {
          return parseEnr(text).nodeId === nodeId;
        } catch {
          return false;
        }
      });
      if (found === undefined) found = (await this.#discover(options)).nodes.find((n) => n.nodeId === nodeId)?.enr;
      if (found === undefined) throw sdkError("UNKNOWN_NODE", `pinned node ${nodeId} was not found by discovery`, { nodeId });
      enr = found;
    }
    if (this.isGraylisted(nodeId)) {
      throw sdkError("NODE_UNAVAILABLE", `pinned node ${nodeId} is graylisted after repeated failures`, {
        nodeId,
        until: this.#graylist.get(nodeId),
      });
    }
    const { accepted, rejected } = await this.#classify([{ nodeId, enr }], () => handAdded);
    if (accepted.length === 0) {
      throw sdkError("UNTRUSTED_NODE", `pinned node ${nodeId} is not trusted: ${rejected[0]?.reasons.join("; ")}`, {
        nodeId,
        reasons: rejected[0]?.reasons ?? [],
      });
    }
    const subscribed = this.#preferSubscribed !== undefined && (await askPreference(this.#preferSubscribed, nodeId));
    const node: SelectedNode<V> = { ...accepted[0]!, pinned: true, subscribed };
    this.#current = node;
    this.emit("selected", { node, poolSize: 1, fastest: 1 });
    return node;
  }
}

/** A throwing or rejecting preference counts as "no". */
async function askPreference(prefer: (nodeId: string) => boolean | Promise<boolean>, nodeId: string): Promise<boolean> {
  try {
    return Boolean(await prefer(nodeId));
  } catch {
    return false;
  }
}

function sdkError(code: ErrorCode, message: string, details: Record<string, unknown>): MailserverSdkError {
  return new MailserverSdkError(code, message, { details });
}
