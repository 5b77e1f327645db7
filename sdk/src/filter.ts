// Keeping only the nodes of an app's own network and role: by kind, relay cluster and shards,
// Waku capabilities. Isomorphic.
import type { DiscoverOptions, DiscoverySource } from "./sources/sources.js";
import { parseEnr, type ParsedEnr } from "./enr.js";
import { kindId } from "./nodeKey.js";
import type { WakuCapability } from "./waku/enrFields.js";

export interface NodeFilter {
  /** Keep nodes that announce this kind (name or id), by `waku2` capability or `srvkind`. */
  kind?: string;
  /** Keep nodes of this relay cluster (`rs`/`rsv`); a node that names no cluster is dropped. */
  cluster?: number;
  /** Keep nodes that serve at least one of these shards (of `cluster` when it is set). */
  shards?: readonly number[];
  /** Keep nodes that have every one of these Waku capabilities. */
  capabilities?: readonly WakuCapability[];
}

/** Why a node does not pass a filter. */
export type FilterReason = "wrong-kind" | "no-shard-info" | "other-cluster" | "no-shared-shard" | "missing-capability";

/** Why `node` fails `filter`, or undefined when it passes. */
export function filterReason(node: ParsedEnr, filter: NodeFilter): FilterReason | undefined {
  if (filter.kind !== undefined && !node.kinds.includes(kindId(filter.kind))) return "wrong-kind";
  if (filter.capabilities !== undefined && !filter.capabilities.every((c) => node.capabilities.includes(c))) return "missing-capability";
  if (filter.cluster !== undefined || filter.shards !== undefined) {
    if (node.shards === undefined) return "no-shard-info";
    if (filter.cluster !== undefined && node.shards.cluster !== filter.cluster) return "other-cluster";
    if (filter.shards !== undefined && !filter.shards.some((s) => node.shards!.shards.includes(s))) return "no-shared-shard";
  }
  return undefined;
}

/** Whether `node` passes `filter`. */
export function matchesFilter(node: ParsedEnr, filter: NodeFilter): boolean {
  return filterReason(node, filter) === undefined;
}

/** A node a filtered source left out, and why. */
export interface FilteredOut {
  enr: string;
  nodeId?: string;
  reason: FilterReason | "invalid-enr";
}

/** A source whose results pass a filter; what it dropped is in `lastFiltered`. */
export interface FilteredSource extends DiscoverySource {
  readonly source: DiscoverySource;
  readonly filter: NodeFilter;
  /** What the last `discover()` dropped. */
  lastFiltered: FilteredOut[];
}

/**
 * Wraps a source so that only nodes passing `filter` come out, e.g.
 * `filterSource(dnsSource, { kind: "mailserver", ...STATUS_NETWORK })`.
 */
export function filterSource(source: DiscoverySource, filter: NodeFilter, name = source.name): FilteredSource {
  const wrapped: FilteredSource = {
    name,
    source,
    filter,
    lastFiltered: [],
    async discover(options?: DiscoverOptions) {
      const kept: string[] = [];
      const dropped: FilteredOut[] = [];
      for (const enr of await source.discover(options)) {
        let parsed: ParsedEnr;
        try {
          parsed = parseEnr(enr);
        } catch {
          dropped.push({ enr, reason: "invalid-enr" });
          continue;
        }
        const reason = filterReason(parsed, filter);
        if (reason === undefined) kept.push(enr);
        else dropped.push({ enr, nodeId: parsed.nodeId, reason });
      }
      wrapped.lastFiltered = dropped;
      return kept;
    },
  };
  return wrapped;
}
