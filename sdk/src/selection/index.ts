// Public API of node selection (re-exported from the `/discovery` entry: its default probe is discv5).
export {
  MailserverSelector,
  DEFAULT_GRAYLIST_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  type Candidate,
  type GraylistEntry,
  type MailserverSelectorOptions,
  type NodeTrustStatus,
  type OffersFn,
  type QualityFn,
  type RejectedNode,
  type SelectOptions,
  type SelectedNode,
  type SelectorEvents,
  type VerifiedNodeLike,
  type VerifyFn,
} from "./selector.js";
export {
  createDiscv5Probe,
  probeEach,
  type Discv5ProbeOptions,
  type ProbeFn,
  type ProbeOneFn,
  type ProbeOptions,
  type ProbeResult,
  type ProbeTarget,
} from "./probe.js";
export { TypedEmitter } from "./emitter.js";
// The pure steps (also on the isomorphic root).
export { partitionVerified, rankCandidates, drawFromBest, type PartitionOptions } from "./choose.js";
export { Graylist, type FailureOutcome } from "./graylist.js";
export { rankNodes, DEFAULT_RANK_POLICY, type RankPolicy, type Ranking, type RankedNode } from "./rank.js";
