// Where the gate learns a client's expiry: the index while it is current; while it is not, a
// per-client cache of contract reads within budgets and a deadline, else the last good index
// within the grace. Keeps the mode (fresh, stale, degraded) and the counters of `health()`.
import { MailserverSdkError } from "../errors.js";
import { withDeadline } from "../core/rpc.js";
import { ReadBudgets, type ReadBudgetOptions } from "./readBudgets.js";

/** Where the gate learns subscription expiries. `SubscriptionIndex` implements it. */
export interface SubscriptionLookup {
  /** True while the in-memory view is current enough (fresh) to answer without RPC. */
  isCaughtUp(): boolean;
  /** Expiry in seconds from memory (0 when none). */
  expiryOf(nodeId: string, clientId: string): bigint;
  /** Expiry read from the contract, for when the index is not current. */
  readExpiry(nodeId: string, clientId: string): Promise<bigint>;
  /**
   * Seconds since the last successful sync, undefined when it never synced in this process.
   * Without it the gate never admits from a view that is not current.
   */
  staleForSeconds?(): number | undefined;
}

/**
 * How the gate decides now: `fresh` from a current index; `stale` from the contract where it can
 * read it, else from the last good index (within `staleGraceSeconds`); `degraded` from the
 * contract only (never synced, or stale beyond the grace): what it cannot read is `unavailable`.
 */
export type GateMode = "fresh" | "stale" | "degraded";

export interface GateModeChange {
  mode: GateMode;
  previous: GateMode;
  /** One sentence for the log. */
  message: string;
  staleForSeconds: number | undefined;
}

/** What an operator alerts on (`AccessGate.health()`). */
export interface GateHealth {
  mode: GateMode;
  /** Seconds since the index's last successful sync (undefined: never synced). */
  staleForSeconds: number | undefined;
  /** The configured grace, seconds. */
  staleGraceSeconds: number;
  /** Decisions answered from the last good index because the contract could not be asked. */
  graceAdmissions: number;
  /** Decisions answered `unavailable`. */
  unavailable: number;
  /** Contract reads that failed (RPC down, timeout). */
  contractReadFailures: number;
}

export interface ExpiryLookupOptions {
  nodeId: string;
  index: SubscriptionLookup;
  whenStale: "contract" | "deny";
  cacheSeconds: number;
  budgets: ReadBudgetOptions;
  readTimeoutMs: number;
  graceSeconds: number;
  /** Entries kept at most in each per-client map (all are forgotten when full). */
  maxCached: number;
  onError(error: MailserverSdkError): void;
  onModeChange(change: GateModeChange): void;
}

interface CachedExpiry {
  expiry: bigint;
  readAt: number;
}

export class ExpiryLookup {
  readonly #o: ExpiryLookupOptions;
  readonly #budgets: ReadBudgets;
  readonly #admitted = new Set<string>();
  readonly #cache = new Map<string, CachedExpiry>();
  readonly #pending = new Map<string, Promise<bigint | undefined>>();
  #mode: GateMode = "fresh";
  #graceAdmissions = 0;
  #unavailable = 0;
  #readFailures = 0;

  constructor(options: ExpiryLookupOptions) {
    this.#o = options;
    this.#budgets = new ReadBudgets(options.budgets);
  }

  /**
   * The expiry now, synchronously (for `checkPeer`): from the index while it is current, else the
   * cache, else the last good index within the grace (a contract read is started for the next
   * request); undefined when it cannot be known.
   */
  expiryNow(clientId: string, clientKey: string, now: number, peerId: string): bigint | undefined {
    if (this.#o.index.isCaughtUp()) return this.#o.index.expiryOf(this.#o.nodeId, clientKey);
    const cached = this.#cachedExpiry(clientId, now);
    if (cached !== undefined) return cached;
    if (this.#o.whenStale === "contract") void this.expiryOf(clientId, now, peerId);
    return this.#fromLastIndex(clientId);
  }

  /**
   * The client's expiry, or undefined when it cannot be known now (`unavailable`). While the
   * index is not current: the per-client cache, else a contract read within the budgets (known
   * keys and strangers apart, and per peer), else the last good index within the grace.
   */
  async expiryOf(clientId: string, now: number, peerId: string): Promise<bigint | undefined> {
    if (this.#o.index.isCaughtUp()) {
      this.#setMode("fresh");
      return this.#o.index.expiryOf(this.#o.nodeId, clientId);
    }
    if (this.#o.whenStale === "deny") return this.#fromLastIndex(clientId);
    const cached = this.#cachedExpiry(clientId, now);
    if (cached !== undefined) return cached;
    const key = clientId.toLowerCase();
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    const known = this.#admitted.has(key) || this.#o.index.expiryOf(this.#o.nodeId, clientId) > 0n;
    if (!this.#budgets.take(peerId, known, now)) return this.#fromLastIndex(clientId);
    // The gate's own deadline, whatever the index's retry policy: a decision waits seconds at most.
    const timeout = () => new MailserverSdkError("RPC_TIMEOUT", `expiry read: no answer within ${this.#o.readTimeoutMs} ms`, { details: { timeoutMs: this.#o.readTimeoutMs } });
    const read = withDeadline(this.#o.index.readExpiry(this.#o.nodeId, clientId), this.#o.readTimeoutMs, "expiry read", timeout)
      .then(
        (expiry) => {
          if (this.#cache.size >= this.#o.maxCached) this.#cache.clear();
          this.#cache.set(key, { expiry, readAt: now });
          return expiry;
        },
        (error: unknown) => {
          this.#readFailures++;
          this.#report(error);
          return this.#fromLastIndex(clientId);
        },
      )
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, read);
    return read;
  }

  /**
   * What the last good index says, while it is within the grace and knew this client; undefined
   * (cannot know) otherwise. A client it did not know may have paid since: not refused as
   * unsubscribed, but as `unavailable`.
   */
  #fromLastIndex(clientId: string): bigint | undefined {
    const staleFor = this.#o.index.staleForSeconds?.();
    if (staleFor === undefined || staleFor > this.#o.graceSeconds) {
      this.#setMode("degraded");
      return undefined;
    }
    this.#setMode("stale");
    // A contract read made since (older than the cache time, but after the last good sync) knows
    // more than the index: a cancellation it saw is not undone by the grace.
    const read = this.#cache.get(clientId.toLowerCase());
    if (read !== undefined) return read.expiry;
    const expiry = this.#o.index.expiryOf(this.#o.nodeId, clientId);
    if (expiry === 0n) return undefined;
    this.#graceAdmissions++;
    return expiry;
  }

  #setMode(mode: GateMode): void {
    if (mode === this.#mode) return;
    const previous = this.#mode;
    this.#mode = mode;
    // Contract reads made while stale are older than a current index: never prefer them to it.
    if (mode === "fresh") this.#cache.clear();
    const staleFor = this.#o.index.staleForSeconds?.();
    const message =
      mode === "fresh"
        ? "the subscription index is current again: deciding from it"
        : mode === "stale"
          ? `the subscription index is not current (last sync ${staleFor ?? "?"} s ago): reading the contract where possible, else admitting what the last good index knew active (for up to ${this.#o.graceSeconds} s after its last sync)`
          : `the subscription index is not current (${staleFor === undefined ? "never synced" : `last sync ${staleFor} s ago, beyond the ${this.#o.graceSeconds} s grace`}): only contract reads admit; what cannot be read is refused as unavailable`;
    try {
      this.#o.onModeChange({ mode, previous, message, staleForSeconds: staleFor });
    } catch {
      // A failing reporter must not turn a decision into a crash.
    }
  }

  /** How the gate decides now, and counters an operator can alert on. */
  health(): GateHealth {
    if (this.#o.index.isCaughtUp()) this.#setMode("fresh");
    else if (this.#mode === "fresh") this.#fromLastIndexMode();
    return {
      mode: this.#mode,
      staleForSeconds: this.#o.index.staleForSeconds?.(),
      staleGraceSeconds: this.#o.graceSeconds,
      graceAdmissions: this.#graceAdmissions,
      unavailable: this.#unavailable,
      contractReadFailures: this.#readFailures,
    };
  }

  #fromLastIndexMode(): void {
    const staleFor = this.#o.index.staleForSeconds?.();
    this.#setMode(staleFor === undefined || staleFor > this.#o.graceSeconds ? "degraded" : "stale");
  }

  /** Count a decision answered `unavailable` (for `health()`). */
  noteUnavailable(): void {
    this.#unavailable++;
  }

  /** A client admitted once counts as known: its reads come from the known keys' budget. */
  remember(clientId: string): void {
    if (this.#admitted.size >= this.#o.maxCached) this.#admitted.clear();
    this.#admitted.add(clientId.toLowerCase());
  }

  #cachedExpiry(clientId: string, now: number): bigint | undefined {
    const cached = this.#cache.get(clientId.toLowerCase());
    return cached !== undefined && now - cached.readAt < this.#o.cacheSeconds ? cached.expiry : undefined;
  }

  #report(error: unknown): void {
    const sdkError = error instanceof MailserverSdkError ? error : new MailserverSdkError("RPC_UNAVAILABLE", "expiry read failed", { cause: error });
    try {
      this.#o.onError(sdkError);
    } catch {
      // A failing reporter must not turn a denial into a crash.
    }
  }
}
