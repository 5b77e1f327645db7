// The selector's data: what it needs from a verifier, the candidates it ranks and draws from, and
// its events. Types only (isomorphic).
import type { DiscoveryResult } from "../sources/sources.js";
import type { OfferVerdict } from "../offer/document.js";
import type { NodeQuality } from "../quality/types.js";
import type { NodeVerdict, Ranking } from "./rank.js";

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
  /** Its place among the reachable candidates and why (absent for a pinned node, which is not ranked). */
  ranking?: Ranking;
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

/** Offers of candidates, verified by the app (`fetchOffer` + `verifyOffer`), by node id; a missing node has none. */
export type OffersFn = (targets: readonly { nodeId: string; enr: string }[]) => Promise<ReadonlyMap<string, OfferVerdict>>;

/** The trusted probes' summaries by node id (`summarizeReports`). */
export type QualityFn = () => ReadonlyMap<string, NodeQuality> | Promise<ReadonlyMap<string, NodeQuality>>;

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
  /**
   * The reachable candidates were ranked (`rankNodes`): all of them, excluded ones included, with
   * their reasons; `errors`: offers or quality that could not be had (those nodes rank as unknown).
   */
  ranked: (result: { nodes: (Candidate<V> & { ranking: Ranking })[]; errors: string[] }) => void;
  /** A node was chosen. `poolSize`: reachable candidates considered; `fastest`: how many were drawn from. */
  selected: (result: { node: SelectedNode<V>; poolSize: number; fastest: number }) => void;
  /** A node failed `failuresToGraylist` times in a row and is skipped until `until`. */
  graylisted: (entry: GraylistEntry & { failures: number; reason?: string }) => void;
};
