// Entry point `@status/mailserver-sdk/discovery` (Node-only): what needs UDP sockets or Node's
// DNS: the discv5 node and crawler, node selection with discv5 probes, the Node TXT resolver.
// Everything in this folder is Node-only; the isomorphic pieces it re-exports live elsewhere
// (selection/, sources/), and the package root exports those too.
export {
  startMailserverDiscovery,
  startDiscv5Node,
  type Discv5ConfigOverrides,
  type Discv5Events,
  type Discv5Handle,
  type MailserverDiscoveryHandle,
  type StartDiscv5NodeOptions,
  type StartMailserverDiscoveryOptions,
} from "./node.js";
export { Discv5CrawlerSource, type CrawlStats, type Discv5CrawlerOptions } from "./crawler.js";
export { findFreeUdpPort } from "./udp.js";

// Node selection: the selector with its discv5 probe (Node), and its isomorphic parts.
export { MailserverSelector, type MailserverSelectorOptions } from "./selector.js";
export { createDiscv5Probe, type Discv5ProbeOptions } from "./probe.js";
export {
  DEFAULT_GRAYLIST_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  type Candidate,
  type GraylistEntry,
  type NodeTrustStatus,
  type OffersFn,
  type QualityFn,
  type RejectedNode,
  type SelectOptions,
  type SelectedNode,
  type SelectorEvents,
  type VerifiedNodeLike,
  type VerifyFn,
} from "../selection/selector.js";
export { probeEach, type ProbeFn, type ProbeOneFn, type ProbeOptions, type ProbeResult, type ProbeTarget } from "../selection/probe.js";
export { TypedEmitter } from "../selection/emitter.js";
// The pure steps (also on the isomorphic root).
export { partitionVerified, rankCandidates, drawFromBest, type PartitionOptions } from "../selection/choose.js";
export { Graylist, type FailureOutcome } from "../selection/graylist.js";
export { rankNodes, DEFAULT_RANK_POLICY, type RankPolicy, type Ranking, type RankedNode } from "../selection/rank.js";

// The Node TXT lookup for EIP-1459 DNS trees (the tree client itself is in the root).
export { nodeDnsResolver, type NodeDnsResolverOptions } from "./dnsResolver.js";
