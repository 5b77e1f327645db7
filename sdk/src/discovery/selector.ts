// The `/discovery` entry's selector: the isomorphic NodeSelector with a discv5 PING (UDP, Node)
// as its default probe.
import type { ProbeFn } from "../selection/probe.js";
import { NodeSelector, type NodeSelectorOptions } from "../selection/selector.js";
import type { VerifiedNodeLike } from "../selection/types.js";
import { createDiscv5Probe } from "./probe.js";

export interface MailserverSelectorOptions<V extends VerifiedNodeLike = VerifiedNodeLike> extends Omit<NodeSelectorOptions<V>, "probe"> {
  /** RTT probe; default a discv5 PING ({@link createDiscv5Probe}) bound to `probeBindIp`. */
  probe?: ProbeFn;
  /** Bind address of the default probe's ephemeral node (default "0.0.0.0"). */
  probeBindIp?: string;
}

/**
 * Chooses a mail server: {@link NodeSelector} (discover, verify, probe, rank, draw; see there)
 * whose probe defaults to a discv5 PING from an ephemeral node per batch.
 */
export class MailserverSelector<V extends VerifiedNodeLike = VerifiedNodeLike> extends NodeSelector<V> {
  constructor(options: MailserverSelectorOptions<V>) {
    const { probeBindIp, ...rest } = options;
    super({ ...rest, probe: options.probe ?? createDiscv5Probe({ bindIp: probeBindIp ?? "0.0.0.0" }) });
  }
}
