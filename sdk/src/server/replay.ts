/**
 * Remembers (client, nonce) pairs for as long as their request could still pass the freshness
 * check, and no longer: memory is bounded by the request rate times the window.
 *
 * Nonces are bucketed by issuedAt second; pruning drops whole buckets that left the window, so it
 * costs at most the number of seconds in the window, not the number of nonces.
 */
export class ReplayGuard {
  readonly #windowSeconds: number;
  readonly #seen = new Set<string>();
  readonly #buckets = new Map<number, string[]>();
  #lastPrune = Number.NEGATIVE_INFINITY;

  constructor(windowSeconds: number) {
    this.#windowSeconds = windowSeconds;
  }

  /** Whether the nonce was seen within the window (records nothing). */
  has(clientId: string, nonce: string): boolean {
    return this.#seen.has(`${clientId.toLowerCase()}:${nonce.toLowerCase()}`);
  }

  /** Record the nonce; false when it was already seen within the window. */
  admit(clientId: string, nonce: string, issuedAt: number, now: number): boolean {
    this.prune(now);
    const key = `${clientId.toLowerCase()}:${nonce.toLowerCase()}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    const bucket = this.#buckets.get(issuedAt);
    if (bucket === undefined) this.#buckets.set(issuedAt, [key]);
    else bucket.push(key);
    return true;
  }

  /** Forget nonces whose issuedAt is older than the window (at most once per second). */
  prune(now: number): void {
    if (now === this.#lastPrune) return;
    this.#lastPrune = now;
    const oldest = now - this.#windowSeconds;
    for (const [second, keys] of this.#buckets) {
      if (second >= oldest) continue;
      for (const key of keys) this.#seen.delete(key);
      this.#buckets.delete(second);
    }
  }

  /** How many nonces are remembered. */
  get size(): number {
    return this.#seen.size;
  }
}
