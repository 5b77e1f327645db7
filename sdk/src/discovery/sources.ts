// Where ENRs come from: a discv5 crawl, a static list, the on-chain registry; and merging them.
import { ENR } from "@chainsafe/enr";
import { parseEnr, type ParsedEnr } from "../enr.js";
import { kindId, normalizeNodeId } from "../nodeKey.js";
import { MAILSERVER_KIND_NAME } from "../serviceKinds.js";
import { startDiscv5Node, type Discv5ConfigOverrides, type Discv5Handle } from "./node.js";
import { enrNodeId, withTimeout } from "./util.js";

export interface DiscoverOptions {
  /** Abort a running discovery early; what was found so far is returned. */
  signal?: AbortSignal;
}

/**
 * A source of node ENRs. Every source has the same shape: `discover()` resolves to ENR texts
 * (possibly invalid ones, possibly duplicates; {@link combineSources} sorts that out).
 */
export interface DiscoverySource {
  readonly name: string;
  discover(options?: DiscoverOptions): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------------
// Static list
// ---------------------------------------------------------------------------------------------

/** A fixed list of ENRs (bundled defaults, user-entered custom nodes, a config file...). */
export class StaticEnrSource implements DiscoverySource {
  readonly name: string;
  readonly #enrs: readonly string[];

  constructor(enrs: readonly string[], name = "static") {
    this.#enrs = [...enrs];
    this.name = name;
  }

  async discover(): Promise<string[]> {
    return [...this.#enrs];
  }
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

/** A registered node as the registry returns it (extra fields ignored). */
export interface RegisteredRecord {
  nodeId: string;
  record: string;
}

/** The registry reads the source needs; the SDK's `RegistryClient` fits. */
export interface RegistryRecordReader {
  allNodesByKind(kind: string): Promise<readonly string[]>;
  getNodeTrust(nodeIds: readonly string[]): Promise<readonly RegisteredRecord[]>;
}

/** Why a registered record was not emitted by {@link RegistrySource}. */
export interface SkippedRecord {
  nodeId: string;
  record: string;
  reason: "not-an-enr" | "invalid-enr" | "node-id-mismatch";
}

export type RegistrySourceOptions = {
  /** Kind name or id (default `"mailserver"`). */
  kind?: string;
  name?: string;
  /** Called for each registered record that cannot be used for discovery. */
  onSkip?: (skipped: SkippedRecord) => void;
} & (
  | {
      /** Returns the registered records of a kind (e.g. from the SDK's RegistryClient or an indexer). */
      records: (kindId: string) => Promise<readonly RegisteredRecord[]>;
    }
  | {
      /** Reads the registry: every node id of the kind, then `getNodeTrust` per `chunkSize` ids. */
      registry: RegistryRecordReader;
      /** Ids per `getNodeTrust` call (default 100). */
      chunkSize?: number;
    }
);

/**
 * The ENRs registered on chain for a kind. Records that are multiaddrs / enode URLs (no ENR), that
 * do not decode, or whose ENR belongs to another node id than the registered one are skipped
 * (reported through `onSkip`). Registered does not mean trusted: verify what this returns.
 */
export class RegistrySource implements DiscoverySource {
  readonly name: string;
  readonly kind: string;
  readonly #options: RegistrySourceOptions;
  /** Records skipped by the last `discover()`. */
  lastSkipped: SkippedRecord[] = [];

  constructor(options: RegistrySourceOptions) {
    this.#options = options;
    this.kind = kindId(options.kind ?? MAILSERVER_KIND_NAME);
    this.name = options.name ?? "registry";
  }

  async discover(): Promise<string[]> {
    const records = "records" in this.#options ? await this.#options.records(this.kind) : await this.#readContract(this.#options);
    const out: string[] = [];
    const skipped: SkippedRecord[] = [];
    for (const { nodeId, record } of records) {
      const text = record.trim();
      const skip = (reason: SkippedRecord["reason"]) => skipped.push({ nodeId, record, reason });
      if (!text.startsWith("enr:")) {
        skip("not-an-enr");
        continue;
      }
      let parsed: ParsedEnr;
      try {
        parsed = parseEnr(text);
      } catch {
        skip("invalid-enr");
        continue;
      }
      if (parsed.nodeId !== normalizeNodeId(nodeId)) {
        skip("node-id-mismatch");
        continue;
      }
      out.push(text);
    }
    this.lastSkipped = skipped;
    for (const s of skipped) this.#options.onSkip?.(s);
    return out;
  }

  async #readContract(options: { registry: RegistryRecordReader; chunkSize?: number }): Promise<RegisteredRecord[]> {
    const chunkSize = Math.max(1, options.chunkSize ?? 100);
    const ids = [...(await options.registry.allNodesByKind(this.kind))];
    const records: RegisteredRecord[] = [];
    for (let i = 0; i < ids.length; i += chunkSize) {
      for (const t of await options.registry.getNodeTrust(ids.slice(i, i + chunkSize))) records.push({ nodeId: t.nodeId, record: t.record });
    }
    return records;
  }
}

// ---------------------------------------------------------------------------------------------
// discv5 crawler
// ---------------------------------------------------------------------------------------------

export interface Discv5CrawlerOptions {
  /** ENRs to start from (bootstrap nodes). */
  bootEnrs: readonly string[];
  /** Keep ENRs that announce this kind (name or id; default `"mailserver"`). `null` keeps every ENR. */
  kind?: string | null;
  /** Address for the crawler's own ephemeral node. Default "0.0.0.0"; use "127.0.0.1" in tests. */
  bindIp?: string;
  /** UDP port of the ephemeral node (default 0: any). */
  port?: number;
  /** At most this many `findRandomNode` lookups (default 5). */
  rounds?: number;
  /** Stop after this many consecutive lookups that found nothing new (default 2). */
  idleRounds?: number;
  /**
   * FINDNODE requests sent to every newly seen node besides the random lookups, each a list of
   * log-distances (a node answers at most 16 ENRs per request). Default
   * `[[256], [255], [254], [253, 252, 251, 250]]`: the buckets holding almost all of a node's
   * peers. `[]` only runs random lookups.
   */
  walkDistances?: readonly (readonly number[])[];
  /** Time budget of one crawl in ms (default 15000). */
  timeoutMs?: number;
  /** Crawl with an already running node instead of an ephemeral one (it is not stopped). */
  node?: Discv5Handle;
  /** discv5 settings of the ephemeral node (default here: requestTimeout 1000 ms, enrUpdate off). */
  config?: Discv5ConfigOverrides;
  name?: string;
}

/** What the last crawl did. */
export interface CrawlStats {
  rounds: number;
  /** Distinct node ids seen (boot nodes included). */
  seen: number;
  /** Of which announce the kind. */
  matched: number;
  elapsedMs: number;
  /** Boot ENRs that did not decode. */
  invalidBootEnrs: string[];
}

const WALK_PARALLELISM = 4;
const DEFAULT_WALK_DISTANCES: readonly (readonly number[])[] = [[256], [255], [254], [253, 252, 251, 250]];

/**
 * Crawls the discv5 network: starts an ephemeral discv5 node (or uses `node`), adds the boot
 * ENRs, then runs rounds of one random-target lookup plus a FINDNODE to every newly seen node
 * (bounded by `rounds`, `idleRounds` and `timeoutMs`), and returns the ENRs seen (boot nodes
 * included) that announce `kind` (the `waku2` store bit for mail servers, or `srvkind`).
 */
export class Discv5CrawlerSource implements DiscoverySource {
  readonly name: string;
  readonly #options: Discv5CrawlerOptions;
  readonly #kind: string | null;
  lastStats: CrawlStats | undefined;

  constructor(options: Discv5CrawlerOptions) {
    this.#options = options;
    this.#kind = options.kind === null ? null : kindId(options.kind ?? MAILSERVER_KIND_NAME);
    this.name = options.name ?? "discv5";
  }

  async discover(options: DiscoverOptions = {}): Promise<string[]> {
    const started = Date.now();
    const o = this.#options;
    const timeoutMs = o.timeoutMs ?? 15_000;
    const deadline = started + timeoutMs;
    const owned = o.node === undefined;
    const node =
      o.node ??
      (await startDiscv5Node({
        bindIp: o.bindIp ?? "0.0.0.0",
        port: o.port ?? 0,
        config: { requestTimeout: 1000, lookupTimeout: Math.min(timeoutMs, 30_000), enrUpdate: false, ...o.config },
      }));
    const seen = new Map<string, ENR>();
    const note = (enr: ENR): boolean => {
      const prev = seen.get(enr.nodeId);
      if (prev !== undefined && prev.seq >= enr.seq) return false;
      seen.set(enr.nodeId, enr);
      return prev === undefined;
    };
    const onEnr = (enr: ENR) => {
      note(enr);
    };
    node.events.on("discovered", onEnr);
    node.events.on("enrAdded", onEnr);
    let rounds = 0;
    const invalidBootEnrs: string[] = [];
    try {
      for (const text of o.bootEnrs) {
        try {
          note(parseEnrObject(text));
        } catch {
          invalidBootEnrs.push(text);
        }
      }
      node.addEnrs(o.bootEnrs.filter((t) => !invalidBootEnrs.includes(t)));

      const maxRounds = o.rounds ?? 5;
      const maxIdle = o.idleRounds ?? 2;
      const walkDistances = o.walkDistances ?? DEFAULT_WALK_DISTANCES;
      const queried = new Set<string>([node.discv5.enr.nodeId]);
      const timeLeft = () => deadline - Date.now();
      let idle = 0;
      while (rounds < maxRounds && !options.signal?.aborted && timeLeft() > 0) {
        const before = seen.size;
        rounds++;
        // 1. A random-target lookup (a lookup without any known peer would idle until its timeout).
        if (node.discv5.kadValues().length > 0) {
          try {
            const found = await withTimeout(node.discv5.findRandomNode(), timeLeft(), () => new Error("crawl time budget used up"));
            for (const enr of found) note(enr);
          } catch {
            break;
          }
        }
        for (const enr of node.discv5.kadValues()) note(enr);
        // 2. Walk the table: ask every node not asked yet for its outermost buckets, where almost
        //    all of its peers sit (random lookups alone miss nodes in small networks).
        if (walkDistances.length > 0) {
          const pending = [...seen.values()].filter((e) => !queried.has(e.nodeId) && (e.udp !== undefined || e.udp6 !== undefined));
          for (let i = 0; i < pending.length && timeLeft() > 0 && !options.signal?.aborted; i += WALK_PARALLELISM) {
            await Promise.all(
              pending.slice(i, i + WALK_PARALLELISM).map(async (enr) => {
                queried.add(enr.nodeId);
                for (const distances of walkDistances) {
                  if (timeLeft() <= 0) return;
                  try {
                    const nodes = await withTimeout(node.discv5.sendFindNode(enr, [...distances]), timeLeft(), () => new Error("timeout"));
                    for (const n of nodes) note(n);
                  } catch {
                    return; // Unreachable or slow node: the crawl goes on without it.
                  }
                }
              }),
            );
          }
        }
        idle = seen.size > before ? 0 : idle + 1;
        if (idle >= maxIdle) break;
      }
    } finally {
      node.events.off("discovered", onEnr);
      node.events.off("enrAdded", onEnr);
      if (owned) await node.stop();
    }
    const selfId = node.nodeId;
    const matches = [...seen.values()].filter((enr) => enrNodeId(enr) !== selfId && this.#matches(enr));
    this.lastStats = { rounds, seen: seen.size, matched: matches.length, elapsedMs: Date.now() - started, invalidBootEnrs };
    return matches.map((enr) => enr.encodeTxt());
  }

  #matches(enr: ENR): boolean {
    if (this.#kind === null) return true;
    try {
      return parseEnr(enr.encodeTxt()).kinds.includes(this.#kind);
    } catch {
      return false;
    }
  }
}

function parseEnrObject(text: string): ENR {
  parseEnr(text); // same validity rule as everywhere else in the SDK (throws INVALID_ENR)
  return ENR.decodeTxt(text.trim());
}

// ---------------------------------------------------------------------------------------------
// Combining sources
// ---------------------------------------------------------------------------------------------

/** One node after merging all sources. */
export interface DiscoveredNode {
  nodeId: string;
  /** ENR text with the highest sequence number seen. */
  enr: string;
  seq: bigint;
  /** Kind ids the ENR announces (`waku2` capabilities and `srvkind`; may be empty for static/registry entries). */
  kinds: string[];
  /** Names of the sources that returned this node (any sequence number). */
  sources: string[];
  parsed: ParsedEnr;
}

export interface InvalidEnr {
  source: string;
  enr: string;
  error: string;
}

export interface SourceFailure {
  source: string;
  error: string;
}

export interface DiscoveryResult {
  nodes: DiscoveredNode[];
  /** ENRs that did not decode or had a bad signature: reported, never thrown. */
  invalid: InvalidEnr[];
  /** Sources that threw (the others still count). */
  failures: SourceFailure[];
}

/**
 * Merges ENR batches: de-duplicates by node id, the higher ENR sequence number wins (first seen
 * on a tie), invalid ENRs are reported. Order: first appearance.
 */
export function mergeEnrs(batches: readonly { source: string; enrs: readonly string[] }[]): Omit<DiscoveryResult, "failures"> {
  const byId = new Map<string, DiscoveredNode>();
  const invalid: InvalidEnr[] = [];
  for (const { source, enrs } of batches) {
    for (const text of enrs) {
      let parsed: ParsedEnr;
      try {
        parsed = parseEnr(text);
      } catch (e) {
        invalid.push({ source, enr: text, error: e instanceof Error ? e.message : String(e) });
        continue;
      }
      const prev = byId.get(parsed.nodeId);
      if (prev === undefined) {
        byId.set(parsed.nodeId, {
          nodeId: parsed.nodeId,
          enr: parsed.enr,
          seq: parsed.seq,
          kinds: [...parsed.kinds],
          sources: [source],
          parsed,
        });
        continue;
      }
      if (!prev.sources.includes(source)) prev.sources.push(source);
      if (parsed.seq > prev.seq) {
        prev.enr = parsed.enr;
        prev.seq = parsed.seq;
        prev.kinds = [...parsed.kinds];
        prev.parsed = parsed;
      }
    }
  }
  return { nodes: [...byId.values()], invalid };
}

/** A source made of several sources, with the detailed result of the merge. */
export interface CombinedSource extends DiscoverySource {
  readonly sources: readonly DiscoverySource[];
  /** Runs every source in parallel and merges (see {@link mergeEnrs}); a failing source is reported. */
  discoverDetailed(options?: DiscoverOptions): Promise<DiscoveryResult>;
}

/** Combines sources (run in parallel); `discover()` gives the merged, valid ENRs. */
export function combineSources(...sources: DiscoverySource[]): CombinedSource {
  const discoverDetailed = async (options: DiscoverOptions = {}): Promise<DiscoveryResult> => {
    const settled = await Promise.allSettled(sources.map((s) => s.discover(options)));
    const failures: SourceFailure[] = [];
    const batches: { source: string; enrs: string[] }[] = [];
    settled.forEach((r, i) => {
      const source = sources[i]!.name;
      if (r.status === "fulfilled") batches.push({ source, enrs: r.value });
      else failures.push({ source, error: r.reason instanceof Error ? r.reason.message : String(r.reason) });
    });
    return { ...mergeEnrs(batches), failures };
  };
  return {
    name: `combined(${sources.map((s) => s.name).join(",")})`,
    sources,
    discoverDetailed,
    async discover(options) {
      return (await discoverDetailed(options)).nodes.map((n) => n.enr);
    },
  };
}
