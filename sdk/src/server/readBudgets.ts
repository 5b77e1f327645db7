// How many contract reads the gate may spend while its index is not current, and on whom: keys
// it knew share one budget, keys never seen another, and each connection peer has its own, so
// strangers cycling fresh keys cannot spend the reads paying users need.

/** `capacity` tokens per `periodSeconds`, refilled continuously, as a burst of as many. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly capacity: number,
    readonly periodSeconds: number,
    now = 0,
  ) {
    this.#tokens = capacity;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) * this.capacity) / this.periodSeconds);
      this.#at = now;
    }
  }

  peek(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= 1;
  }

  take(now: number): boolean {
    if (!this.peek(now)) return false;
    this.#tokens--;
    return true;
  }
}

export interface ReadBudgetOptions {
  /** Reads per second for keys the index knew or the gate admitted before. */
  knownPerSecond: number;
  /** Reads per second for keys never seen. */
  unknownPerSecond: number;
  /** Reads per minute per connection peer. */
  perPeerPerMinute: number;
  /** Peers tracked at most (all are forgotten when full: memory stays bounded). */
  maxPeers: number;
}

export class ReadBudgets {
  readonly #known: TokenBucket;
  readonly #unknown: TokenBucket;
  readonly #peers = new Map<string, TokenBucket>();
  readonly #options: ReadBudgetOptions;

  constructor(options: ReadBudgetOptions) {
    this.#options = options;
    this.#known = new TokenBucket(options.knownPerSecond, 1);
    this.#unknown = new TokenBucket(options.unknownPerSecond, 1);
  }

  /** Spend one read for `peerId` on a known or unknown key; false (nothing spent) when a budget is empty. */
  take(peerId: string, known: boolean, now: number): boolean {
    const peer = this.#peer(peerId, now);
    if (!peer.peek(now) || !(known ? this.#known : this.#unknown).take(now)) return false;
    peer.take(now);
    return true;
  }

  #peer(peerId: string, now: number): TokenBucket {
    let bucket = this.#peers.get(peerId);
    if (bucket === undefined) {
      if (this.#peers.size >= this.#options.maxPeers) this.#peers.clear();
      bucket = new TokenBucket(this.#options.perPeerPerMinute, 60, now);
      this.#peers.set(peerId, bucket);
    }
    return bucket;
  }
}
