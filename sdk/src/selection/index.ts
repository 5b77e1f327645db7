// Public API of node selection (re-exported from the `/discovery` entry: its default probe is discv5).
export {
  MailserverSelector,
  DEFAULT_GRAYLIST_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  type Candidate,
  type GraylistEntry,
  type MailserverSelectorOptions,
  type NodeTrustStatus,
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
