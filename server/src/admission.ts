// Who gets served, and in what order: the LES-style service model. Paid service (a live access
// grant for an active subscription) is always admitted and runs first; spare capacity goes to free
// peers at lower priority, each under a per-peer rate limit: free work waits for spare capacity
// (a bounded time, in a bounded queue) and is shed first when the node is overloaded. Pure: no
// libp2p, no clock of its own (tests pass one), the load is passed in (see load.ts for the
// event-loop monitor).

export type ServiceMode = "paid-only" | "free" | "freemium";

export interface AdmissionLimits {
  /**
   * Free store queries per peer per minute (token bucket refilled continuously). Sized for polling:
   * js-waku's ReliableChannel looks a missing message up by hash every 10 s (two queries each).
   */
  freeQueriesPerMinute: number;
  /**
   * Burst of a free peer's bucket. Sized for a whole history read: js-waku pages back to back until
   * an empty page and does not back off on 429 (200 pages: 4,000 messages at its default page of 20).
   */
  freeBurst: number;
  /**
   * Free peers whose rate buckets are kept; beyond, the least recently seen is forgotten (it
   * would get a full bucket back), so throwaway peer ids cannot grow memory without bound.
   */
  maxFreePeers: number;
  /** Store queries running at once (paid and free together). */
  maxConcurrent: number;
  /** At most this many of the running queries may be free ones, so paid work always finds a slot. */
  maxConcurrentFree: number;
  /**
   * Free queries waiting for a slot or for spare capacity beyond this are refused at once (503).
   * (In `freemium` the free stream caps below usually bind first.)
   */
  maxFreeQueue: number;
  /**
   * A free query waits at most this long for a slot and for spare capacity, then gets 503, ms.
   * Waiting, not refusing, is what keeps free load off the subscribers: a refused client asks
   * again at once, and every refusal costs the event loop a stream; a waiting one costs memory.
   */
  freeQueueTimeoutMs: number;
  /** Paid queries waiting beyond this are refused (503): the node is overloaded even for subscribers. */
  maxPaidQueue: number;
  // The four below apply in `freemium` only (in `free` all capacity is free).
  /** Free store queries started per second across all free peers together (the spare capacity given away); beyond, they wait. */
  freeQueriesPerSecond: number;
  /** New free reads wait (before the archive) while the event loop lags more than this, ms. */
  maxEventLoopDelayMs: number;
  /** Free store requests being answered at once per peer; more are reset before they are decoded. */
  maxFreeStreamsPerPeer: number;
  /** Free store requests being answered at once across all free peers; more are reset before they are decoded. */
  maxFreeStreams: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  freeQueriesPerMinute: 120,
  freeBurst: 200,
  maxFreePeers: 50_000,
  maxConcurrent: 8,
  maxConcurrentFree: 4,
  maxFreeQueue: 256,
  freeQueueTimeoutMs: 5_000,
  maxPaidQueue: 1024,
  freeQueriesPerSecond: 50,
  maxEventLoopDelayMs: 20,
  maxFreeStreamsPerPeer: 4,
  maxFreeStreams: 256,
};

/** The answer to free work refused for want of spare capacity: its queue was full or it waited `freeQueueTimeoutMs`. */
export const SHED_STATUS = { statusCode: 503, statusDesc: "SERVICE_UNAVAILABLE: overloaded, free service shed" } as const;

/** The answer when the access gate cannot determine a peer's subscription now. */
export const UNAVAILABLE_STATUS = { statusCode: 503, statusDesc: "SERVICE_UNAVAILABLE: cannot check the subscription now, try later" } as const;

export type ServiceClass = "paid" | "free";

export type Admission =
  | { admitted: true; serviceClass: ServiceClass }
  | { admitted: false; statusCode: 402 | 429 | 503; statusDesc: string };

/** The access check's answer for one peer, as the gate gives it. */
export interface PeerAccess {
  allowed: boolean;
  reason?: string;
}

/** Decides whether a store query from a peer is admitted, and in which class. */
export class AdmissionPolicy {
  readonly mode: ServiceMode;
  readonly limits: AdmissionLimits;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** The budget all free peers share: one bucket of a second's worth of free queries. */
  readonly #global: { tokens: number; at: number };
  readonly #freeStreams = new Map<string, number>();
  #freeStreamsTotal = 0;
  readonly #now: () => number;

  constructor(mode: ServiceMode, limits: Partial<AdmissionLimits> = {}, now: () => number = Date.now) {
    this.mode = mode;
    this.limits = { ...DEFAULT_ADMISSION_LIMITS, ...limits };
    this.#now = now;
    this.#global = { tokens: this.limits.freeQueriesPerSecond, at: now() };
  }

  /**
   * Decides on a decoded store query: paid, refused (402 in `paid-only`, 429 beyond a free peer's
   * own rate), or free. A free one then waits in the scheduler for spare capacity (`spare`).
   */
  admit(peerId: string, access: PeerAccess): Admission {
    if (access.allowed) return { admitted: true, serviceClass: "paid" };
    if (this.mode === "paid-only") {
      // The gate could not tell (the chain's RPC is down, its read budget spent): maybe a
      // subscriber, so "try later", not "pay". (In the other modes such a peer is served as free.)
      if (access.reason === "unavailable") return { admitted: false, ...UNAVAILABLE_STATUS };
      return { admitted: false, statusCode: 402, statusDesc: `PAYMENT_REQUIRED: subscription required (${access.reason ?? "no-grant"})` };
    }
    if (!this.#take(peerId)) {
      return { admitted: false, statusCode: 429, statusDesc: "TOO_MANY_REQUESTS: free query rate limit exceeded" };
    }
    return { admitted: true, serviceClass: "free" };
  }

  /**
   * Whether a free query may start now, in `freemium` (free service from spare capacity only; in
   * `free` all capacity is free): not a new read while the event loop lags more than
   * `maxEventLoopDelayMs` (a later page of a read under way goes on: a read cut short wastes the
   * pages served), and a token of the budget all free peers share. Paid work waiting for a slot
   * already goes first in the scheduler.
   */
  spare(continues: boolean, eventLoopDelayMs: number): boolean {
    if (this.mode !== "freemium") return true;
    if (!continues && eventLoopDelayMs > this.limits.maxEventLoopDelayMs) return false;
    return this.#takeGlobal();
  }

  /** Gives back the token of a free query that was refused after all (it waited too long): a refusal costs the peer nothing. */
  refund(peerId: string): void {
    const bucket = this.#buckets.get(peerId);
    if (bucket !== undefined) bucket.tokens = Math.min(this.limits.freeBurst, bucket.tokens + 1);
  }

  /**
   * A free peer's store request has arrived: false (reset it undecoded) beyond the per-peer or the
   * global cap of free streams, so a flood costs the transport's framing and not the decoding and
   * answering. (Counted once the request is read: idle streams opened ahead of queries hold no slot.)
   * Every true must be matched by `closeFreeStream`.
   */
  openFreeStream(peerId: string): boolean {
    // In `free` every peer is free and all capacity is theirs: the per-protocol stream cap applies.
    if (this.mode !== "freemium") return true;
    const open = this.#freeStreams.get(peerId) ?? 0;
    if (open >= this.limits.maxFreeStreamsPerPeer || this.#freeStreamsTotal >= this.limits.maxFreeStreams) return false;
    this.#freeStreams.set(peerId, open + 1);
    this.#freeStreamsTotal++;
    return true;
  }

  closeFreeStream(peerId: string): void {
    if (this.mode !== "freemium") return;
    const open = this.#freeStreams.get(peerId) ?? 0;
    if (open <= 0) return;
    if (open === 1) this.#freeStreams.delete(peerId);
    else this.#freeStreams.set(peerId, open - 1);
    this.#freeStreamsTotal--;
  }

  get freeStreamsOpen(): number {
    return this.#freeStreamsTotal;
  }

  /** Forget a peer's bucket (on disconnect); a reconnecting peer starts from a full bucket only after it refilled anyway. */
  forget(peerId: string): void {
    const bucket = this.#buckets.get(peerId);
    if (bucket !== undefined && this.#refilled(bucket) >= this.limits.freeBurst) this.#buckets.delete(peerId);
  }

  #refilled(bucket: { tokens: number; at: number }): number {
    const elapsed = Math.max(0, this.#now() - bucket.at);
    return Math.min(this.limits.freeBurst, bucket.tokens + (elapsed * this.limits.freeQueriesPerMinute) / 60_000);
  }

  /** Takes a token of the shared free budget. */
  #takeGlobal(): boolean {
    const rate = this.limits.freeQueriesPerSecond;
    const elapsed = Math.max(0, this.#now() - this.#global.at);
    this.#global.tokens = Math.min(rate, this.#global.tokens + (elapsed * rate) / 1000);
    this.#global.at = this.#now();
    if (this.#global.tokens < 1) return false;
    this.#global.tokens -= 1;
    return true;
  }

  /** Free peers whose buckets are kept now (at most `maxFreePeers`). */
  get freePeersTracked(): number {
    return this.#buckets.size;
  }

  #take(peerId: string): boolean {
    let bucket = this.#buckets.get(peerId);
    if (bucket === undefined) {
      bucket = { tokens: this.limits.freeBurst, at: this.#now() };
      // The Map keeps insertion order: its first key is the least recently seen peer.
      while (this.#buckets.size >= this.limits.maxFreePeers && this.#buckets.size > 0) this.#buckets.delete(this.#buckets.keys().next().value!);
    } else {
      bucket.tokens = this.#refilled(bucket);
      bucket.at = this.#now();
      this.#buckets.delete(peerId);
    }
    this.#buckets.set(peerId, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/** Whether free work may start now; asked once per start, so an answer of true may spend a budget. */
export type SpareCapacity = (continues: boolean) => boolean;

interface WaitingFree {
  since: number;
  continues: boolean;
  go: (started: boolean) => void;
}

/**
 * Runs admitted work with bounded concurrency: paid work first, free work only in its own share
 * of the slots and when there is spare capacity. Free work that cannot start waits, later pages
 * of reads under way first, then new reads in arrival order, for at most `freeQueueTimeoutMs`;
 * beyond `maxFreeQueue` waiting it is refused at once.
 */
export class PriorityScheduler {
  readonly #limits: AdmissionLimits;
  readonly #spare: SpareCapacity;
  readonly #now: () => number;
  /** How soon to ask again for spare capacity that was not there, ms (the budget refills continuously, the lag is sampled every 100 ms). */
  readonly #retryMs: number;
  #running = 0;
  #runningFree = 0;
  readonly #paid: (() => void)[] = [];
  /** Waiting free work: later pages of reads under way, and new reads. */
  readonly #continuing: WaitingFree[] = [];
  readonly #fresh: WaitingFree[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(limits: AdmissionLimits, options: { spare?: SpareCapacity; now?: () => number; retryMs?: number } = {}) {
    this.#limits = limits;
    this.#spare = options.spare ?? (() => true);
    this.#now = options.now ?? (() => performance.now());
    this.#retryMs = options.retryMs ?? 10;
  }

  get running(): number {
    return this.#running;
  }

  /** Paid work running or waiting. */
  get paidInFlight(): number {
    return this.#running - this.#runningFree + this.#paid.length;
  }

  get queued(): { paid: number; free: number } {
    return { paid: this.#paid.length, free: this.#freeWaiting };
  }

  get #freeWaiting(): number {
    return this.#continuing.length + this.#fresh.length;
  }

  /**
   * Runs `task` when a slot is free (and, for free work, spare capacity); resolves to undefined
   * when the work was refused: its queue was full, it waited too long, or the scheduler closed.
   * `continues`: free work that is a later page of a read under way.
   */
  async run<T>(serviceClass: ServiceClass, task: () => Promise<T>, continues = false): Promise<{ value: T } | undefined> {
    if (this.#closed) return undefined;
    if (serviceClass === "paid") {
      if (this.#running < this.#limits.maxConcurrent && this.#paid.length === 0) this.#acquire("paid");
      else if (this.#paid.length >= this.#limits.maxPaidQueue) return undefined;
      // #next acquires the slot on this task's behalf before waking it.
      else await new Promise<void>((resolve) => this.#paid.push(resolve));
    } else if (this.#paid.length === 0 && this.#freeWaiting === 0 && this.#freeSlot() && this.#spare(continues)) {
      this.#acquire("free");
    } else {
      if (this.#freeWaiting >= this.#limits.maxFreeQueue) return undefined;
      const started = await new Promise<boolean>((go) => {
        (continues ? this.#continuing : this.#fresh).push({ since: this.#now(), continues, go });
        // Arms the timer: for its deadline, and to ask again for spare capacity if that was missing.
        this.#next();
      });
      if (!started) return undefined;
    }
    try {
      return { value: await task() };
    } finally {
      this.#running--;
      if (serviceClass === "free") this.#runningFree--;
      this.#next();
    }
  }

  /** Refuses all waiting free work and stops asking for capacity (on stop). Paid work waiting still runs as slots free. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const queue of [this.#continuing, this.#fresh]) for (const waiting of queue.splice(0)) waiting.go(false);
  }

  #acquire(serviceClass: ServiceClass): void {
    this.#running++;
    if (serviceClass === "free") this.#runningFree++;
  }

  #freeSlot(): boolean {
    return this.#running < this.#limits.maxConcurrent && this.#runningFree < this.#limits.maxConcurrentFree;
  }

  #next(): void {
    while (this.#running < this.#limits.maxConcurrent && this.#paid.length > 0) {
      this.#acquire("paid");
      this.#paid.shift()!();
    }
    this.#expire();
    if (this.#paid.length > 0) return;
    while (this.#freeSlot()) {
      const queue = this.#continuing.length > 0 ? this.#continuing : this.#fresh;
      const head = queue[0];
      if (head === undefined) return;
      if (!this.#spare(head.continues)) {
        // No spare capacity now: ask again shortly (the budget refills, the lag passes).
        this.#arm(this.#now() + this.#retryMs);
        return;
      }
      queue.shift();
      this.#acquire("free");
      head.go(true);
    }
  }

  /** Refuses free work that waited `freeQueueTimeoutMs` (each queue is in arrival order: the oldest are first). */
  #expire(): void {
    const oldest = this.#now() - this.#limits.freeQueueTimeoutMs;
    for (const queue of [this.#continuing, this.#fresh]) while (queue.length > 0 && queue[0]!.since <= oldest) queue.shift()!.go(false);
    const next = Math.min(this.#continuing[0]?.since ?? Infinity, this.#fresh[0]?.since ?? Infinity);
    if (next !== Infinity) this.#arm(next + this.#limits.freeQueueTimeoutMs);
  }

  /** One timer, at the earliest moment the free queue needs another look. */
  #arm(at: number): void {
    if (this.#closed || (this.#timer !== undefined && this.#timerAt <= at)) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.#next();
    }, Math.max(0, Math.ceil(at - this.#now())));
    // Waiting work has its own deadlines upstream; the timer must not hold the process open.
    this.#timer.unref?.();
  }
}
