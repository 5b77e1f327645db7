// The selector's pure steps, usable without discv5 (exported from the isomorphic root): sorting
// verification results into candidates and rejections, ranking reachable candidates with the
// probes' quality and the nodes' offers, and the draw among the best.
import { parseEnr } from "../enr.js";
import { normalizeNodeId } from "../nodeKey.js";
import type { OfferVerdict } from "../offer/document.js";
import type { NodeQuality } from "../quality/types.js";
import { offerFacts, rankNodes, type RankPolicy, type Ranking } from "./rank.js";
import type { Candidate, RejectedNode, VerifiedNodeLike } from "./types.js";

export interface PartitionOptions {
  /** Nodes the user added by hand: accepted (as custom) whatever the verifier says. */
  handAdded: (nodeId: string) => boolean;
  /** Refuse trusted nodes whose discovered ENR differs from the registered record (reason "endpoint-mismatch"). */
  rejectEndpointMismatch: boolean;
}

/**
 * Matches verification results to nodes by node id and sorts them: untrusted nodes (and, unless
 * told otherwise, endpoint mismatches) are rejected; hand-added nodes are always accepted. A node
 * the verifier did not answer for is untrusted ("not verified").
 */
export function partitionVerified<V extends VerifiedNodeLike>(
  nodes: readonly { nodeId: string; enr: string }[],
  results: readonly V[],
  options: PartitionOptions,
): { accepted: Candidate<V>[]; rejected: RejectedNode<V>[] } {
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
    const verification = byId.get(node.nodeId) ?? ({ nodeId: node.nodeId, status: "untrusted", reasons: ["not verified"] } as VerifiedNodeLike as V);
    const userAdded = options.handAdded(node.nodeId);
    if (!userAdded) {
      if (verification.status === "untrusted") {
        rejected.push({ nodeId: node.nodeId, enr: node.enr, reasons: verification.reasons, verification });
        continue;
      }
      if (options.rejectEndpointMismatch && verification.endpointMismatch === true) {
        rejected.push({ nodeId: node.nodeId, enr: node.enr, reasons: [...verification.reasons, "endpoint-mismatch"], verification });
        continue;
      }
    }
    accepted.push({ nodeId: node.nodeId, enr: node.enr, status: verification.status === "trusted" ? "trusted" : "custom", userAdded, verification });
  }
  return { accepted, rejected };
}

/**
 * Ranks reachable candidates (`rankNodes`) with the probes' quality and the verified offers (both
 * keyed by node id; a refused offer counts as none and its reason is shown). Returns them all in
 * rank order, each with its `ranking`; excluded ones are flagged there.
 */
export function rankCandidates<V extends VerifiedNodeLike>(
  candidates: readonly Candidate<V>[],
  inputs: { quality?: ReadonlyMap<string, NodeQuality>; offers?: ReadonlyMap<string, OfferVerdict>; policy?: RankPolicy } = {},
): (Candidate<V> & { ranking: Ranking })[] {
  const ranked = rankNodes(
    candidates.map((c) => {
      return {
        nodeId: c.nodeId,
        verdict: c.status,
        rttMs: c.rttMs ?? null,
        ...offerFacts(inputs.offers?.get(c.nodeId)),
        quality: inputs.quality?.get(c.nodeId) ?? null,
        node: c,
      };
    }),
    inputs.policy,
  );
  return ranked.map(({ candidate, rank, excluded, standing, reasons }) => ({ ...candidate.node, ranking: { rank, excluded, standing, reasons } }));
}

/**
 * The draw: one at random among the first quarter (at least one) of `pool`, which is in rank
 * order (by RTT when nothing else is known): go-waku's "random among the fastest quarter".
 */
export function drawFromBest<T>(pool: readonly T[], random: () => number): { node: T; fastest: number } {
  const fastest = Math.max(1, Math.floor(pool.length / 4));
  const index = Math.min(fastest - 1, Math.floor(random() * fastest));
  return { node: pool[index]!, fastest };
}

/** The ENR text among `enrs` whose node id is `nodeId` (broken ENRs are skipped). */
export function findEnr(enrs: readonly string[], nodeId: string): string | undefined {
  return enrs.find((text) => {
    try {
      return parseEnr(text).nodeId === nodeId;
    } catch {
      return false;
    }
  });
}

/** A throwing or rejecting preference counts as "no". */
export async function askPreference(prefer: (nodeId: string) => boolean | Promise<boolean>, nodeId: string): Promise<boolean> {
  try {
    return Boolean(await prefer(nodeId));
  } catch {
    return false;
  }
}
