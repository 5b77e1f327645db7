// The default probe of the `/discovery` selector: a discv5 PING, which needs UDP sockets (Node).
import { ENR } from "@chainsafe/enr";
import { probeEach, type ProbeFn } from "../selection/probe.js";
import { startDiscv5Node, type Discv5ConfigOverrides, type Discv5Handle } from "./node.js";

export interface Discv5ProbeOptions {
  /** Ping from this running node instead of an ephemeral one per batch (it is not stopped). */
  node?: Discv5Handle;
  /** Bind address of the ephemeral node. Default "0.0.0.0"; tests use "127.0.0.1". */
  bindIp?: string;
  /**
   * PINGs per node; the fastest counts (default 1). The first PING of a fresh node also performs
   * the discv5 handshake, so it measures about two round trips; 2 pings measure the bare RTT.
   */
  pings?: number;
  config?: Discv5ConfigOverrides;
}

/**
 * The default probe: a discv5 PING to each node (the mail server's own discovery endpoint).
 * Without `node`, an ephemeral discv5 node is started for each batch and stopped after it, so
 * nothing stays open between selections.
 */
export function createDiscv5Probe(options: Discv5ProbeOptions = {}): ProbeFn {
  const pings = Math.max(1, options.pings ?? 1);
  return async (targets, probeOptions) => {
    if (targets.length === 0) return [];
    const owned = options.node === undefined;
    const node =
      options.node ??
      (await startDiscv5Node({
        bindIp: options.bindIp ?? "0.0.0.0",
        config: { requestTimeout: probeOptions.timeoutMs, requestRetries: 0, enrUpdate: false, ...options.config },
      }));
    try {
      return await probeEach(async (target) => {
        const enr = ENR.decodeTxt(target.enr);
        let best = Number.POSITIVE_INFINITY;
        for (let i = 0; i < pings; i++) {
          const t0 = performance.now();
          await node.discv5.sendPing(enr);
          best = Math.min(best, performance.now() - t0);
        }
        return best;
      })(targets, probeOptions);
    } finally {
      if (owned) await node.stop();
    }
  };
}
