// Picking a mail server: discover -> verify (one batched call) -> probe -> rank -> draw among the best.
// The pure steps are in choose.ts, rank.ts and graylist.ts; this class holds the state and the I/O
// it is given. Isomorphic: the probe is injected (the `/discovery` entry's MailserverSelector
// injects a discv5 PING, discovery/selector.ts).
import { parseEnr } from "../enr.js";
import { MailserverSdkError, type ErrorCode } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";
import { combineSources, StaticEnrSource, type DiscoveredNode, type DiscoveryResult, type DiscoverySource } from "../sources/sources.js";
import { askPreference, drawFromBest, findEnr, partitionVerified, rankCandidates } from "./choose.js";
import { TypedEmitter } from "./emitter.js";
import { Graylist } from "./graylist.js";
import type { ProbeFn, ProbeResult } from "./probe.js";
import type { RankPolicy } from "./rank.js";
import type { Candidate, GraylistEntry, OffersFn, QualityFn, SelectedNode, SelectorEvents, VerifiedNodeLike, VerifyFn } from "./types.js";

export type {
  Candidate,
  GraylistEntry,
  NodeTrustStatus,
  OffersFn,
  QualityFn,
  RejectedNode,
  SelectedNode,
  SelectorEvents,
  VerifiedNodeLike,
  VerifyFn,
} from "./types.js";

export interface NodeSelectorOptions<V extends VerifiedNodeLike = VerifiedNodeLike> {
  /** Where nodes come from (crawler, registry, static lists); run in parallel and merged. */
  sources?: readonly DiscoverySource[];
  /** Batched verification of all discovered ENRs. */
  verify: VerifyFn<V>;
  /** RTT probe of a batch of nodes (`probeEach` makes one from a one-node probe). */
  probe: ProbeFn;
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
  /**
   * The trusted probes' summaries (`summarizeReports` over reports verified against the registry),
   * read once per discovery round. Nodes below `rankPolicy`'s floors are not drawn from.
   */
  quality?: QualityFn;
  /** The candidates' verified offers (`fetchOffer` + `verifyOffer`), asked once per round, beside the probe. */
  offers?: OffersFn;
  /** Floors and what happens below them (see `rankNodes`; default `DEFAULT_RANK_POLICY`). */
  rankPolicy?: RankPolicy;
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
 * candidates -> candidates that are not graylisted are probed in parallel (timeout each), their
 * offers (`offers`) and the probes' quality (`quality`) read beside -> ranked (`rankNodes`: nodes
 * below a floor are excluded, unknown after known-good, then by RTT; event `ranked`) -> one is
 * drawn at random among the first quarter (at least one); with `preferSubscribed`, only
 * subscribed nodes are drawn from when any is reachable. Without `offers` and `quality` this is
 * the RTT rule alone. Ranked candidates are cached for `cacheMs`, so moving on after a failure
 * needs no new crawl.
 *
 * Failures: `reportFailure(nodeId)` twice in a row (probe failures count too) graylists a node for
 * `graylistMs`; `reportSuccess(nodeId)` resets its count. Call `select()` again to move on.
 *
 * Pinned node: no discovery (unless pinned by id and not among `customNodes`), no probe, no
 * ranking, no draw; but it is verified and refused when untrusted (see `pinned`) or graylisted.
 */
export class NodeSelector<V extends VerifiedNodeLike = VerifiedNodeLike> extends TypedEmitter<SelectorEvents<V>> {
  readonly #options: NodeSelectorOptions<V>;
  readonly #sources: readonly DiscoverySource[];
  readonly #probe: ProbeFn;
  readonly #pinned: string | undefined;
  readonly #customEnrs: readonly string[];
  readonly #customIds: ReadonlySet<string>;
  readonly #random: () => number;
  readonly #clock: () => number;
  readonly #graylist: Graylist;
  #cache: { at: number; candidates: Candidate<V>[] } | undefined;
  #current: SelectedNode<V> | undefined;

  constructor(options: NodeSelectorOptions<V>) {
    super();
    this.#options = options;
    this.#sources = [...(options.sources ?? [])];
    this.#probe = options.probe;
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
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? Date.now;
    this.#graylist = new Graylist(this.#clock, options.graylistMs ?? DEFAULT_GRAYLIST_MS, Math.max(1, options.failuresToGraylist ?? 2));
  }

  /** The last selected node, until it is graylisted. */
  get current(): SelectedNode<V> | undefined {
    return this.#current;
  }

  /** Candidates from the last discovery round, best first (graylisted ones included, excluded ones not). */
  get candidates(): readonly Candidate<V>[] {
    return this.#cache?.candidates ?? [];
  }

  /** Chooses a node (see the class comment). Throws NO_NODE_AVAILABLE when nothing can be used. */
  async select(options: SelectOptions = {}): Promise<SelectedNode<V>> {
    if (this.#pinned !== undefined && this.#pinned !== "") return this.#selectPinned(options);
    const cached =
      !options.refresh && this.#cache !== undefined && this.#clock() - this.#cache.at < (this.#options.cacheMs ?? 60_000)
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
    const outcome = this.#graylist.fail(nodeId);
    if (outcome.graylisted) {
      const id = normalizeNodeId(nodeId);
      if (this.#current?.nodeId === id) this.#current = undefined;
      this.emit("graylisted", { nodeId: id, until: outcome.until!, failures: outcome.failures, ...(reason !== undefined ? { reason } : {}) });
    }
    return outcome;
  }

  /** Records a successful request: the node's failure count starts over. */
  reportSuccess(nodeId: string): void {
    this.#graylist.succeed(nodeId);
  }

  isGraylisted(nodeId: string): boolean {
    return this.#graylist.has(nodeId);
  }

  /** Nodes currently graylisted. */
  graylisted(): GraylistEntry[] {
    return this.#graylist.entries();
  }

  /** Forgets graylisting (one node or all). */
  clearGraylist(nodeId?: string): void {
    this.#graylist.clear(nodeId);
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
    const results = nodes.length === 0 ? [] : await this.#options.verify(nodes.map((n) => n.enr));
    const { accepted, rejected } = partitionVerified(nodes, results, { handAdded, rejectEndpointMismatch: this.#options.rejectEndpointMismatch ?? true });
    for (const r of rejected) this.emit("rejected", r);
    this.emit("verified", { accepted, rejected });
    return { accepted, rejected };
  }

  async #refresh(options: SelectOptions): Promise<Candidate<V>[]> {
    const discovery = await this.#discover(options);
    const { accepted } = await this.#classify(discovery.nodes, (id) => this.#customIds.has(id));
    const targets = accepted.filter((c) => !this.isGraylisted(c.nodeId));
    const errors: string[] = [];
    const [results, offers, quality] = await Promise.all([
      targets.length === 0 ? ([] as ProbeResult[]) : this.#probe(targets.map((c) => ({ nodeId: c.nodeId, enr: c.enr })), { timeoutMs: this.#options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS }),
      rankInput("offers", errors, async () => (targets.length === 0 ? undefined : this.#options.offers?.(targets.map((c) => ({ nodeId: c.nodeId, enr: c.enr }))))),
      rankInput("quality", errors, async () => this.#options.quality?.()),
    ]);
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
    const ranked = rankCandidates(reachable, { ...(quality ? { quality } : {}), ...(offers ? { offers } : {}), ...(this.#options.rankPolicy ? { policy: this.#options.rankPolicy } : {}) });
    this.emit("ranked", { nodes: ranked, errors: errors.sort() });
    const usable = ranked.filter((c) => !c.ranking.excluded);
    this.#cache = { at: this.#clock(), candidates: usable };
    return usable;
  }

  async #choose(candidates: readonly Candidate<V>[]): Promise<SelectedNode<V>> {
    let pool = [...candidates]; // in rank order
    let subscribed = false;
    const prefer = this.#options.preferSubscribed;
    if (prefer !== undefined) {
      const flags = await Promise.all(pool.map(async (c) => await askPreference(prefer, c.nodeId)));
      const subs = pool.filter((_, i) => flags[i]);
      if (subs.length > 0) {
        pool = subs;
        subscribed = true;
      }
    }
    const { node: picked, fastest } = drawFromBest(pool, this.#random);
    const node: SelectedNode<V> = { ...picked, pinned: false, subscribed };
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
      const found = findEnr(this.#customEnrs, nodeId) ?? (await this.#discover(options)).nodes.find((n) => n.nodeId === nodeId)?.enr;
      if (found === undefined) throw sdkError("UNKNOWN_NODE", `pinned node ${nodeId} was not found by discovery`, { nodeId });
      enr = found;
    }
    if (this.isGraylisted(nodeId)) {
      throw sdkError("NODE_UNAVAILABLE", `pinned node ${nodeId} is graylisted after repeated failures`, {
        nodeId,
        until: this.#graylist.until(nodeId),
      });
    }
    const { accepted, rejected } = await this.#classify([{ nodeId, enr }], () => handAdded);
    if (accepted.length === 0) {
      throw sdkError("UNTRUSTED_NODE", `pinned node ${nodeId} is not trusted: ${rejected[0]?.reasons.join("; ")}`, {
        nodeId,
        reasons: rejected[0]?.reasons ?? [],
      });
    }
    const subscribed = this.#options.preferSubscribed !== undefined && (await askPreference(this.#options.preferSubscribed, nodeId));
    const node: SelectedNode<V> = { ...accepted[0]!, pinned: true, subscribed };
    this.#current = node;
    this.emit("selected", { node, poolSize: 1, fastest: 1 });
    return node;
  }
}

/** Offers and quality are help, not conditions: when they cannot be had the nodes rank as unknown. */
async function rankInput<T>(what: string, errors: string[], read: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    errors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function sdkError(code: ErrorCode, message: string, details: Record<string, unknown>): MailserverSdkError {
  return new MailserverSdkError(code, message, { details });
}
