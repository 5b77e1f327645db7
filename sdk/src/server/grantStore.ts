/** A live grant: which client a peer acts for, until when (unix seconds). */
export interface HeldGrant {
  clientId: string;
  /** The client id in lowercase: what the index is asked with. */
  clientKey: string;
  expiresAt: number;
}

/**
 * Peer id → grant, in bounded memory: at most `maxGrants` in all and `maxPerClient` per client
 * id (one client key signing grants for ever new peer ids only pushes out its own oldest ones).
 * Expired grants go when looked up and, once the store is full, before anything live does.
 */
export class GrantStore {
  readonly #byPeer = new Map<string, HeldGrant>();
  readonly #byClient = new Map<string, Set<string>>();
  readonly #max: number;
  readonly #maxPerClient: number;

  constructor(maxGrants: number, maxPerClient: number) {
    this.#max = maxGrants;
    this.#maxPerClient = maxPerClient;
  }

  get size(): number {
    return this.#byPeer.size;
  }

  get(peerId: string): HeldGrant | undefined {
    return this.#byPeer.get(peerId);
  }

  /** Hold (or replace) the peer's grant. */
  put(peerId: string, clientId: string, expiresAt: number, now: number): void {
    this.delete(peerId);
    const client = clientId.toLowerCase();
    let peers = this.#byClient.get(client);
    if (peers === undefined) {
      peers = new Set();
      this.#byClient.set(client, peers);
    }
    if (peers.size >= this.#maxPerClient) this.delete(peers.values().next().value as string);
    if (this.#byPeer.size >= this.#max) this.#makeRoom(now);
    this.#byPeer.set(peerId, { clientId, clientKey: client, expiresAt });
    peers.add(peerId);
    // `delete` above may have dropped the client's now empty set.
    if (!this.#byClient.has(client)) this.#byClient.set(client, peers);
  }

  delete(peerId: string): void {
    const held = this.#byPeer.get(peerId);
    if (held === undefined) return;
    this.#byPeer.delete(peerId);
    const client = held.clientId.toLowerCase();
    const peers = this.#byClient.get(client);
    peers?.delete(peerId);
    if (peers?.size === 0) this.#byClient.delete(client);
  }

  /** Drop every expired grant; if none was, the oldest held (insertion order). */
  #makeRoom(now: number): void {
    for (const [peerId, held] of this.#byPeer) if (held.expiresAt <= now) this.delete(peerId);
    if (this.#byPeer.size >= this.#max) this.delete(this.#byPeer.keys().next().value as string);
  }
}
