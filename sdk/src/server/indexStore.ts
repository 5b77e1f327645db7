/** One subscription as the index keeps it: ids and addresses lowercase hex, expiry in seconds. */
export interface StoredEntry {
  nodeId: string;
  clientId: string;
  owner: string;
  expiresAt: bigint;
}

/** What identifies an index's contents: a store written under other metadata is not reused. */
export interface IndexMeta {
  chainId: string;
  escrow: string;
  startBlock: number;
  /** Sorted node ids, or null for all nodes. */
  nodeFilter: string[] | null;
}

export interface IndexCursor {
  /** Last block fully applied. */
  lastBlock: number;
  lastBlockHash: string;
}

export interface StoredIndex {
  meta: IndexMeta;
  cursor: IndexCursor | null;
  entries: StoredEntry[];
  /** When the index was last synced successfully (ms since 1970), if recorded. */
  syncedAt?: number;
}

/**
 * Where an index persists. Each call is atomic: a range's entry changes land together with the
 * cursor that covers them, or not at all, so a crash at any point leaves entries that are exactly
 * the chain's state at the cursor.
 */
export interface IndexStore {
  /** The stored index, or undefined when the store is new. */
  load(): StoredIndex | undefined;
  /** Apply changes (entry or null = deleted, by `nodeId|clientId` key) and move the cursor. */
  commit(changes: ReadonlyMap<string, StoredEntry | null>, cursor: IndexCursor): void;
  /** Forget every entry and the cursor, and record the metadata. */
  reset(meta: IndexMeta): void;
  /** Record when a sync last succeeded (ms since 1970): a restart during an RPC outage serves from it within the gate's grace. */
  markSynced?(at: number): void;
  /** `reset`, then store these entries and this cursor: one atomic swap (a re-read built aside). */
  replace(meta: IndexMeta, entries: Iterable<StoredEntry>, cursor: IndexCursor | null): void;
  close(): void;
}

export const entryKey = (nodeId: string, clientId: string): string => `${nodeId.toLowerCase()}|${clientId.toLowerCase()}`;

/**
 * Entries by node, then by client (lowercase ids). Two lookups of strings the caller already
 * holds rather than one of a key concatenated per call: a gate asks for every request.
 */
export class EntryMap {
  readonly #byNode = new Map<string, Map<string, StoredEntry>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(nodeId: string, clientId: string): StoredEntry | undefined {
    return this.#byNode.get(nodeId.toLowerCase())?.get(clientId.toLowerCase());
  }

  /** By an `entryKey`. */
  getByKey(key: string): StoredEntry | undefined {
    const bar = key.indexOf("|");
    return this.#byNode.get(key.slice(0, bar))?.get(key.slice(bar + 1));
  }

  set(entry: StoredEntry): void {
    let clients = this.#byNode.get(entry.nodeId);
    if (clients === undefined) {
      clients = new Map();
      this.#byNode.set(entry.nodeId, clients);
    }
    if (!clients.has(entry.clientId)) this.#size++;
    clients.set(entry.clientId, entry);
  }

  /** By an `entryKey`. */
  deleteByKey(key: string): void {
    const bar = key.indexOf("|");
    const clients = this.#byNode.get(key.slice(0, bar));
    if (clients?.delete(key.slice(bar + 1))) this.#size--;
  }

  *values(): IterableIterator<StoredEntry> {
    for (const clients of this.#byNode.values()) yield* clients.values();
  }
}
