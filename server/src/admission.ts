// Who gets served, and in what order: the LES-style service model. Paid service (a live access
// grant for an active subscription) is always admitted and runs first; spare capacity goes to free
// peers at lower priority, each under a per-peer rate limit, and free work is shed first when the
// node is overloaded. Pure: no libp2p, no clock of its own (tests pass one), the load is passed in
// (see load.ts for the event-loop monitor).

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
  /** Free queries waiting beyond this are refused at once (503): shed first under overload. */
  maxFreeQueue: number;
  /** Paid queries waiting beyond this are refused (503): the node is overloaded even for subscribers. */
  maxPaidQueue: number;
  // The four below apply in `freemium` only (in `free` all capacity is free).
  /** Free store queries per second across all free peers together (the spare capacity given away); beyond, 503 at once. */
  freeQueriesPerSecond: number;
  /** Free queries are shed (503, before the archive) while the event loop lags more than this, ms. */
  maxEventLoopDelayMs: number;
  /** Free store requests being answered at once per peer; more are reset before they are decoded. */
  maxFreeStreamsPerPeer: number;
  /** Free store requests being answered at once across all free peers; more are reset before they are decoded. */
  maxFreeStreams: number;
}

/** Tokens of the shared free budget kept for reads under way: four fifths, but a full budget always admits a new read. */
const newReadReserve = (rate: number) => Math.max(0, Math.min((rate * 4) / 5, rate - 1));

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  freeQueriesPerMinute: 120,
  freeBurst: 200,
  maxFreePeers: 50_000,
  maxConcurrent: 8,
  maxConcurrentFree: 4,
  maxFreeQueue: 32,
  maxPaidQueue: 1024,
  freeQueriesPerSecond: 50,
  maxEventLoopDelayMs: 20,
  maxFreeStreamsPerPeer: 4,
  maxFreeStreams: 16,
};

/**
 * How busy the node is when a free query arrives: free work uses only spare capacity. Spare means
 * no paid query is waiting for a slot: shedding free work whenever a paid query merely ran starved
 * every free client of a node with one subscriber querying back to back (0 of 4,399 reads served
 * in the bench), while the free share of the slots (`maxConcurrentFree`, behind paid in the queue)
 * and the event-loop bound already keep paid work first.
 */
export interface Load {
  /** Paid queries waiting for a slot. */
  paidWaiting: number;
  /** The event loop's recent delay, ms. */
  eventLoopDelayMs: number;
}

const IDLE: Load = { paidWaiting: 0, eventLoopDelayMs: 0 };

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
   * Decides on a decoded store query. A free one is shed (503) while paid work waits for a slot or
   * its event loop lags (in `freemium`: free service only from spare capacity), then limited per
   * peer (429), then by the budget all free peers share (503). Shed queries spend no peer tokens.
   * `continues`: the query carries a cursor, so it is a later page of a read under way. A history
   * read is several pages and fails with any of them, so when the shared budget is short, reads
   * already started finish first: a new read only takes from the top fifth of the budget (a read
   * of a few pages spends most of its budget on continuations).
   */
  admit(peerId: string, access: PeerAccess, load: Load = IDLE, continues = false): Admission {
    if (access.allowed) return { admitted: true, serviceClass: "paid" };
    if (this.mode === "paid-only") {
      // The gate could not tell (the chain's RPC is down, its read budget spent): maybe a
      // subscriber, so "try later", not "pay". (In the other modes such a peer is served as free.)
      if (access.reason === "unavailable") return { admitted: false, ...UNAVAILABLE_STATUS };
      return { admitted: false, statusCode: 402, statusDesc: `PAYMENT_REQUIRED: subscription required (${access.reason ?? "no-grant"})` };
    }
    // A read under way is not shed for the loop's lag (paid work waiting still sheds it): its
    // pages stay bounded by the shared budget below, and a read cut short wastes the pages served.
    if (this.mode === "freemium" && (load.paidWaiting > 0 || (!continues && load.eventLoopDelayMs > this.limits.maxEventLoopDelayMs))) {
      return { admitted: false, ...SHED_STATUS };
    }
    if (!this.#take(peerId)) {
      return { admitted: false, statusCode: 429, statusDesc: "TOO_MANY_REQUESTS: free query rate limit exceeded" };
    }
    if (this.mode === "freemium" && !this.#takeGlobal(continues ? 0 : newReadReserve(this.limits.freeQueriesPerSecond))) return { admitted: false, ...SHED_STATUS };
    return { admitted: true, serviceClass: "free" };
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

  /** Takes a token of the shared free budget if more than `reserve` would be left. */
  #takeGlobal(reserve: number): boolean {
    const rate = this.limits.freeQueriesPerSecond;
    const elapsed = Math.max(0, this.#now() - this.#global.at);
    this.#global.tokens = Math.min(rate, this.#global.tokens + (elapsed * rate) / 1000);
    this.#global.at = this.#now();
    if (this.#global.tokens < 1 + reserve) return false;
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

/**
 * Runs admitted work with bounded concurrency: paid work first, free work only in its own share
 * of the slots, and free work waiting beyond its queue bound is refused instead of queued.
 */
export class PriorityScheduler {
  readonly #limits: AdmissionLimits;
  #running = 0;
  #runningFree = 0;
  readonly #paid: (() => void)[] = [];
  readonly #free: (() => void)[] = [];

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  get running(): number {
    return this.#running;
  }

  /** Paid work running or waiting. */
  get paidInFlight(): number {
    return this.#running - this.#runningFree + this.#paid.length;
  }

  get queued(): { paid: number; free: number } {
    return { paid: this.#paid.length, free: this.#free.length };
  }

  /** Runs `task` when a slot is free; resolves to undefined when the work was shed. */
  async run<T>(serviceClass: ServiceClass, task: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.#canStart(serviceClass)) {
      this.#acquire(serviceClass);
    } else {
      const queue = serviceClass === "paid" ? this.#paid : this.#free;
      const bound = serviceClass === "paid" ? this.#limits.maxPaidQueue : this.#limits.maxFreeQueue;
      if (queue.length >= bound) return undefined;
      // #next acquires the slot on this task's behalf before waking it.
      await new Promise<void>((resolve) => queue.push(resolve));
    }
    try {
      return { value: await task() };
    } finally {
      this.#running--;
      if (serviceClass === "free") this.#runningFree--;
      this.#next();
    }
  }

  #acquire(serviceClass: ServiceClass): void {
    this.#running++;
    if (serviceClass === "free") this.#runningFree++;
  }

  #canStart(serviceClass: ServiceClass): boolean {
    if (this.#running >= this.#limits.maxConcurrent) return false;
    if (serviceClass === "paid") return this.#paid.length === 0;
    return this.#paid.length === 0 && this.#free.length === 0 && this.#runningFree < this.#limits.maxConcurrentFree;
  }

  #next(): void {
    while (this.#running < this.#limits.maxConcurrent) {
      if (this.#paid.length > 0) {
        this.#acquire("paid");
        this.#paid.shift()!();
      } else if (this.#free.length > 0 && this.#runningFree < this.#limits.maxConcurrentFree) {
        this.#acquire("free");
        this.#free.shift()!();
      } else {
        return;
      }
    }
  }
}
