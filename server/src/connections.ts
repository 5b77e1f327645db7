// Free peers yield at the connection level: each connection costs its handshake, its muxer and
// its streams on the one event loop that also serves subscribers, so connections held by peers
// not known to pay are bounded. When there are more than `maxFreeConnections`, the free peers idle
// longest are closed first; a free newcomer that finds no idle one to replace is closed once its
// grace (the time to present a grant) is over, so it gets a clean close instead of a slot. Paying
// peers (a live grant), relay peers and the node's own outbound connections are never closed here.
import type { Logger } from "./log.js";

export interface FreeConnectionLimits {
  /** Inbound connections of peers not known to pay (and not relay peers) kept at once. */
  maxFreeConnections: number;
  /** A free connection that opened no stream for this long is idle: the first to go when the free connections are over their bound, ms. */
  freeIdleMs: number;
  /** A new connection is not counted against the bound for this long, the time to present a grant, ms. */
  connectionGraceMs: number;
}

export const DEFAULT_FREE_CONNECTION_LIMITS: FreeConnectionLimits = { maxFreeConnections: 800, freeIdleMs: 60_000, connectionGraceMs: 10_000 };

/** The part of a libp2p connection the policy reads. */
export interface PolicyConnection {
  remotePeer: { toString(): string };
  direction: "inbound" | "outbound";
  status: string;
  timeline: { open: number };
}

export type Eviction<C> = { connection: C; why: "idle" | "over-cap" };

export class FreeConnectionPolicy {
  readonly limits: FreeConnectionLimits;
  /** peer → when it last opened a stream to one of the node's protocols (ms). */
  readonly #lastStream = new Map<string, number>();

  constructor(limits: Partial<FreeConnectionLimits> = {}) {
    this.limits = { ...DEFAULT_FREE_CONNECTION_LIMITS, ...limits };
  }

  /** A peer opened a stream (it is not idle). */
  touch(peer: string, nowMs = Date.now()): void {
    this.#lastStream.set(peer, nowMs);
  }

  forget(peer: string): void {
    this.#lastStream.delete(peer);
  }

  /** Peers whose last stream is remembered (at most one per connected peer). */
  get tracked(): number {
    return this.#lastStream.size;
  }

  /**
   * The connections to close now so that free connections past their grace fit the bound: idle
   * ones first (longest idle first); then, for what the idle ones and the newcomers still in their
   * grace cannot cover, the newest of the active ones (a newcomer that found no room).
   */
  select<C extends PolicyConnection>(connections: readonly C[], isProtected: (peer: string) => boolean, nowMs = Date.now()): Eviction<C>[] {
    const { maxFreeConnections, freeIdleMs, connectionGraceMs } = this.limits;
    const free = connections.filter((c) => c.direction === "inbound" && c.status === "open" && !isProtected(c.remotePeer.toString()));
    let excess = free.length - maxFreeConnections;
    if (excess <= 0) return [];
    const lastActive = (c: C) => Math.max(c.timeline.open, this.#lastStream.get(c.remotePeer.toString()) ?? 0);
    const settled = free.filter((c) => nowMs - c.timeline.open >= connectionGraceMs);
    const inGrace = free.length - settled.length;
    const idle = settled.filter((c) => nowMs - lastActive(c) >= freeIdleMs).sort((a, b) => lastActive(a) - lastActive(b));
    const out: Eviction<C>[] = idle.slice(0, excess).map((connection) => ({ connection, why: "idle" as const }));
    excess -= out.length;
    // Newcomers still in their grace may yet pay: only what they cannot account for is closed now.
    const overCap = excess - inGrace;
    if (overCap > 0) {
      const chosen = new Set(out.map((e) => e.connection));
      const active = settled.filter((c) => !chosen.has(c)).sort((a, b) => b.timeline.open - a.timeline.open);
      for (const connection of active.slice(0, overCap)) out.push({ connection, why: "over-cap" });
    }
    return out;
  }
}

/** The part of libp2p the enforcement uses. */
export interface ConnectionHost<C extends PolicyConnection & { close(options?: { signal?: AbortSignal }): Promise<void>; abort(error: Error): void }> {
  getConnections(): C[];
}

/** Applies `policy` to `host` now: closes what it selects (gracefully, then by abort), and logs each at info. */
export function enforceFreeConnections<C extends PolicyConnection & { close(options?: { signal?: AbortSignal }): Promise<void>; abort(error: Error): void }>(
  host: ConnectionHost<C>,
  policy: FreeConnectionPolicy,
  isProtected: (peer: string) => boolean,
  logger: Logger,
): number {
  const evictions = policy.select(host.getConnections(), isProtected);
  for (const { connection, why } of evictions) {
    logger.log("info", "free-connection-closed", { peer: connection.remotePeer.toString(), why, maxFreeConnections: policy.limits.maxFreeConnections });
    connection.close({ signal: AbortSignal.timeout(1_000) }).catch(() => connection.abort(new Error(`free connection closed (${why})`)));
  }
  return evictions.length;
}
