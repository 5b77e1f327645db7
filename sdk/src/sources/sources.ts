// Where ENRs come from (isomorphic part): a static list, the on-chain registry; and merging them.
// The discv5 crawler, which needs UDP sockets, is in ./crawler.ts (the Node-only `/discovery` entry).
import { parseEnr, type ParsedEnr } from "../enr.js";
import { kindId, normalizeNodeId } from "../nodeKey.js";
import { MAILSERVER_KIND_NAME } from "../serviceKinds.js";

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
