// Reachability and round-trip time of candidate nodes: the probe's shape, isomorphic (the discv5
// probe, which needs UDP, is discovery/probe.ts).
import { withTimeout } from "../sources/util.js";

export interface ProbeTarget {
  nodeId: string;
  /** ENR text. */
  enr: string;
}

/** One node's probe outcome: `rttMs` when it answered, `error` when it did not. */
export interface ProbeResult {
  nodeId: string;
  rttMs?: number;
  error?: string;
}

export interface ProbeOptions {
  /** Per-node time budget. */
  timeoutMs: number;
}

/** Probes a batch of nodes (in parallel); must resolve (failures are results, not throws). */
export type ProbeFn = (targets: readonly ProbeTarget[], options: ProbeOptions) => Promise<ProbeResult[]>;

/** Measures one node, resolving to its RTT in ms (or rejecting). */
export type ProbeOneFn = (target: ProbeTarget, options: ProbeOptions) => Promise<number>;

/** A {@link ProbeFn} from a one-node probe: all nodes in parallel, each bounded by `timeoutMs`. */
export function probeEach(one: ProbeOneFn): ProbeFn {
  return async (targets, options) =>
    Promise.all(
      targets.map(async (target): Promise<ProbeResult> => {
        try {
          const rttMs = await withTimeout(one(target, options), options.timeoutMs, () => new Error(`no answer within ${options.timeoutMs} ms`));
          return { nodeId: target.nodeId, rttMs };
        } catch (e) {
          return { nodeId: target.nodeId, error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
}
