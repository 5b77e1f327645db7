// Token buckets per key (a peer id) plus one for everybody, with a bounded table: a peer that
// makes new peer ids at will gets a fresh bucket each time, but the table cannot grow past
// `maxKeys` (the least recently used bucket goes), and the shared bucket bounds them all.

export interface RateLimit {
  /** Tokens per second per key; 0 turns the limit off. */
  perSecond: number;
  /** Bucket size per key. */
  burst: number;
  /** Tokens per second for all keys together; 0 turns it off. */
  totalPerSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #total: Bucket;

  constructor(limit: RateLimit, maxKeys = 10_000, nowMs = Date.now()) {
    this.#limit = limit;
    this.#maxKeys = maxKeys;
    this.#total = { tokens: limit.totalPerSecond, at: nowMs };
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `key`; false when the key's or everybody's budget is spent. */
  take(key: string, nowMs = Date.now()): boolean {
    const { perSecond, burst, totalPerSecond } = this.#limit;
    // The key's own bucket first: a peer over its limit must not drain everybody's budget.
    if (perSecond > 0 && !this.#takeOwn(key, perSecond, burst, nowMs)) return false;
    return totalPerSecond === 0 || spend(this.#total, totalPerSecond, totalPerSecond, nowMs);
  }

  forget(key: string): void {
    this.#buckets.delete(key);
  }

  #takeOwn(key: string, perSecond: number, burst: number, nowMs: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
      bucket = { tokens: burst, at: nowMs };
    } else {
      this.#buckets.delete(key); // re-inserted below: the Map's order is the recency order
    }
    this.#buckets.set(key, bucket);
    return spend(bucket, perSecond, burst, nowMs);
  }
}

function spend(bucket: Bucket, perSecond: number, capacity: number, nowMs: number): boolean {
  bucket.tokens = Math.min(capacity, bucket.tokens + ((nowMs - bucket.at) / 1000) * perSecond);
  bucket.at = nowMs;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
