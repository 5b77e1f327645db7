// Consecutive failures and the graylist they lead to (go-waku's StorenodeCycle: 2 failures, 3
// minutes). Plain state with an injected clock; no timers.
import { normalizeNodeId } from "../nodeKey.js";
import type { GraylistEntry } from "./types.js";

export interface FailureOutcome {
  failures: number;
  graylisted: boolean;
  until?: number;
}

export class Graylist {
  readonly #failures = new Map<string, number>();
  readonly #until = new Map<string, number>();

  constructor(
    private readonly clock: () => number,
    private readonly graylistMs: number,
    private readonly failuresToGraylist: number,
  ) {}

  /** Counts a failure; the `failuresToGraylist`-th in a row graylists the node for `graylistMs`. */
  fail(nodeId: string): FailureOutcome {
    const id = normalizeNodeId(nodeId);
    const failures = (this.#failures.get(id) ?? 0) + 1;
    if (failures < this.failuresToGraylist) {
      this.#failures.set(id, failures);
      return { failures, graylisted: false };
    }
    this.#failures.delete(id);
    const until = this.clock() + this.graylistMs;
    this.#until.set(id, until);
    return { failures, graylisted: true, until };
  }

  succeed(nodeId: string): void {
    this.#failures.delete(normalizeNodeId(nodeId));
  }

  has(nodeId: string): boolean {
    return this.until(nodeId) !== undefined;
  }

  /** Until when the node is skipped, or undefined when it is not (expired entries are dropped). */
  until(nodeId: string): number | undefined {
    const id = normalizeNodeId(nodeId);
    const until = this.#until.get(id);
    if (until === undefined) return undefined;
    if (until > this.clock()) return until;
    this.#until.delete(id);
    return undefined;
  }

  entries(): GraylistEntry[] {
    const now = this.clock();
    const out: GraylistEntry[] = [];
    for (const [nodeId, until] of this.#until) {
      if (until > now) out.push({ nodeId, until });
      else this.#until.delete(nodeId);
    }
    return out;
  }

  clear(nodeId?: string): void {
    if (nodeId === undefined) this.#until.clear();
    else this.#until.delete(normalizeNodeId(nodeId));
  }
}
