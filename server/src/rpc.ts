// The chain RPC as the server uses it: every call has a deadline, a call still waiting after half
// of it is reported (warn) while it lasts, and the RPC's state is kept for the operator's metrics.
import { FetchRequest, JsonRpcProvider, type JsonRpcPayload, type JsonRpcResult } from "ethers";
import type { Logger } from "./log.js";

export type RpcStateName = "unknown" | "up" | "slow" | "down";

export interface RpcState {
  state: RpcStateName;
  /** Calls waiting for an answer now. */
  inFlight: number;
  /** The last answered call, ms since the epoch. */
  lastOkMs: number | undefined;
  /** Calls failed (error or deadline) since the last answered one. */
  failuresInARow: number;
  lastError: string | undefined;
}

/** Watches the calls of one or more providers. */
export class RpcMonitor {
  readonly #log: Logger;
  readonly #slowMs: number;
  readonly #pending = new Map<number, { method: string; since: number; reported: boolean }>();
  #next = 0;
  #lastOkMs: number | undefined;
  #failuresInARow = 0;
  #lastError: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #head: number | undefined;

  constructor(logger: Logger, timeoutMs: number) {
    this.#log = logger;
    this.#slowMs = Math.max(1, Math.floor(timeoutMs / 2));
  }

  get state(): RpcState {
    const now = Date.now();
    const slow = [...this.#pending.values()].some((p) => now - p.since >= this.#slowMs);
    const state: RpcStateName = this.#failuresInARow > 0 ? "down" : slow ? "slow" : this.#lastOkMs === undefined ? "unknown" : "up";
    return { state, inFlight: this.#pending.size, lastOkMs: this.#lastOkMs, failuresInARow: this.#failuresInARow, lastError: this.#lastError };
  }

  /** Runs one call under watch. */
  async watch<T>(method: string, call: () => Promise<T>): Promise<T> {
    const id = this.#next++;
    this.#pending.set(id, { method, since: Date.now(), reported: false });
    this.#ensureTimer();
    try {
      const result = await call();
      this.#lastOkMs = Date.now();
      this.#failuresInARow = 0;
      this.#lastError = undefined;
      return result;
    } catch (error) {
      this.#failuresInARow++;
      this.#lastError = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw error;
    } finally {
      this.#pending.delete(id);
      if (this.#pending.size === 0) this.#stopTimer();
    }
  }

  stop(): void {
    this.#stopTimer();
  }

  /** The latest chain head an answer told (eth_blockNumber). */
  get head(): number | undefined {
    return this.#head;
  }

  noteHead(block: number): void {
    if (Number.isSafeInteger(block) && (this.#head === undefined || block > this.#head)) this.#head = block;
  }

  #ensureTimer(): void {
    if (this.#timer !== undefined) return;
    // A hang says nothing by itself: report each call once it has waited half its deadline.
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const call of this.#pending.values()) {
        if (call.reported || now - call.since < this.#slowMs) continue;
        call.reported = true;
        this.#log.log("warn", "rpc-slow", { method: call.method, waitingMs: now - call.since, inFlight: this.#pending.size });
      }
    }, Math.min(1000, this.#slowMs));
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** A JSON-RPC provider whose every call has a deadline and goes through the monitor. */
export class WatchedProvider extends JsonRpcProvider {
  readonly #monitor: RpcMonitor;

  constructor(url: string, chainId: number, timeoutMs: number, monitor: RpcMonitor, options: { pollingInterval?: number } = {}) {
    const request = new FetchRequest(url);
    request.timeout = timeoutMs;
    super(request, chainId, { staticNetwork: true, ...options });
    this.#monitor = monitor;
  }

  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    const method = Array.isArray(payload) ? payload.map((p) => p.method).join(",") : payload.method;
    const results = await this.#monitor.watch(method, () => super._send(payload));
    for (const call of Array.isArray(payload) ? payload : [payload]) {
      if (call.method !== "eth_blockNumber") continue;
      const answer = results.find((r) => r.id === call.id);
      if (typeof answer?.result === "string") this.#monitor.noteHead(Number(answer.result));
    }
    return results;
  }
}
