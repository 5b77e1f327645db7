import { getAddress, type Provider } from "ethers";
import { checkAddress, nonNegativeInteger, positiveInteger } from "../core/args.js";
import { requireAddress, resolveDeployment } from "../deployments.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { readChainId } from "../core/chain.js";
import { escrowContract } from "../core/contracts.js";
import { withRetry, type RetryOptions } from "../core/rpc.js";
import type { ISubscriptionEscrow } from "../typechain/interfaces/ISubscriptionEscrow.js";
import type { SubscriptionLookup } from "./expiryLookup.js";
import { EscrowLogReader } from "./escrowLogReader.js";
import { nodeFilterOf, openSqliteStore, readSnapshot, restoreFromSnapshot, restoreFromStore, snapshotOf, writeSnapshot, type IndexSnapshot, type RestoredIndex } from "./indexPersistence.js";
import { EntryMap, type IndexMeta, type StoredEntry } from "./indexStore.js";
import { SyncLoop, syncState, type ChainSource, type IndexState, type SyncResult } from "./indexSync.js";

// The snapshot and sync result types belong to persistence and sync; exported here too.
export type { IndexSnapshot } from "./indexPersistence.js";
export type { SyncResult } from "./indexSync.js";

export interface SubscriptionIndexOptions {
  provider: Provider;
  /** Checked against the provider's chain on the first sync (WRONG_CHAIN). */
  chainId: bigint | number;
  /** Default: the known deployment of the chain (MISSING_ADDRESS when none). */
  escrow?: string;
  /** Block where scanning starts: the escrow's deployment block. Default: the known deployment's, else 0. */
  startBlock?: number;
  /** Blocks behind head that are not read yet, so shallow reorgs never reach the index (default 6). */
  confirmations?: number;
  /** Blocks per getLogs call (default 2000); a range the provider refuses is split further. */
  maxBlockRange?: number;
  /** Only index these nodes (e.g. the server's own). Default: all. */
  nodeIds?: readonly string[];
  retry?: RetryOptions;
  /**
   * How old the last successful sync may be before the index stops claiming to be current
   * (`isCaughtUp()` false; the gate then asks the contract). Default 60 s: a few block times.
   */
  maxStalenessSeconds?: number;
  /** Wall clock in ms (default Date.now); tests move it. */
  clock?: () => number;
  /** How long `stop()` waits for a sync in progress (default 2,000 ms). */
  stopWaitMs?: number;
  /** Called after each range is applied (progress of a long catch-up). */
  onRange?: (range: { fromBlock: number; toBlock: number; events: number }) => void;
}

export interface IndexEntry {
  nodeId: NodeId;
  clientId: string;
  owner: string;
  /** Seconds. */
  expiresAt: bigint;
}

export interface IndexFreshness {
  /** Whether the index claims to be current (what `isCaughtUp()` says). */
  fresh: boolean;
  /** When the last successful sync ended. */
  syncedAt?: Date;
  /** The chain head seen by that sync. */
  head?: number;
  /** Last block applied. */
  lastBlock?: number;
  /** The error of the last failed sync, when it failed after the last success. */
  lastError?: MailserverSdkError;
}

/**
 * Subscription expiries kept in memory from the escrow's events, so an access check needs no
 * RPC. Reads only up to head − confirmations, and every range must descend from the last block
 * read (its first block's parent hash), or everything is re-read from the start block. Knows
 * when it last synced and stops claiming to be current once that is older than
 * `maxStalenessSeconds`. Persists, when opened on a file, in SQLite: each range and its cursor in
 * one transaction.
 */
export class SubscriptionIndex implements SubscriptionLookup {
  readonly escrow: string;
  readonly chainId: bigint;
  readonly startBlock: number;
  readonly confirmations: number;
  readonly maxStalenessSeconds: number;
  readonly #provider: Provider;
  readonly #contract: ISubscriptionEscrow;
  readonly #nodeFilter: string[] | null;
  readonly #retry: RetryOptions;
  readonly #clock: () => number;
  readonly #source: ChainSource;
  readonly #loop: SyncLoop;
  /** The live state: entries, the last block applied, and its storage when persisted. */
  readonly #live: IndexState = { entries: new EntryMap(), cursor: undefined, store: undefined };
  readonly #nodeIds = new Map<string, string>();
  #syncedAt: number | undefined;
  /**
   * When the state held was last known current (ms): the last sync of this process, or of the
   * process that saved it. Only the gate's outage grace uses it; `isCaughtUp()` needs a sync.
   */
  #lastGoodAt: number | undefined;
  #syncedHead: number | undefined;
  #lastError: MailserverSdkError | undefined;
  #chainChecked = false;
  #syncing: Promise<SyncResult> | undefined;

  constructor(options: SubscriptionIndexOptions) {
    const settings = settingsOf(options);
    this.chainId = settings.chainId;
    this.escrow = settings.escrow;
    this.startBlock = settings.startBlock;
    this.confirmations = settings.confirmations;
    this.maxStalenessSeconds = settings.maxStalenessSeconds;
    this.#provider = options.provider;
    this.#contract = escrowContract(this.escrow, options.provider);
    this.#nodeFilter = nodeFilterOf(options.nodeIds);
    this.#retry = options.retry ?? {};
    this.#clock = options.clock ?? Date.now;
    const read = <T>(label: string, call: () => Promise<T>) => withRetry(label, call, this.#retry);
    const reader = new EscrowLogReader({ provider: this.#provider, escrow: this.escrow, nodeFilter: this.#nodeFilter, read });
    this.#source = { provider: this.#provider, reader, read, startBlock: this.startBlock, confirmations: this.confirmations, maxRange: settings.maxRange, meta: () => this.#meta(), intern: (id) => this.#intern(id), onRange: options.onRange };
    this.#loop = new SyncLoop(() => this.sync(), () => this.#syncing, nonNegativeInteger("stopWaitMs", options.stopWaitMs ?? 2_000));
  }

  /**
   * Open (or create) the index's SQLite file and continue from what it holds. A file written for
   * another chain (WRONG_CHAIN) or escrow (INVALID_ARGUMENT) is refused; one of another start
   * block or node filter is emptied and re-read. Node-only: needs Node.js >= 22.13 (built-in
   * `node:sqlite`, no native addon). `close()` when done.
   */
  static async open(path: string, options: SubscriptionIndexOptions): Promise<SubscriptionIndex> {
    const index = new SubscriptionIndex(options);
    const store = await openSqliteStore(path);
    try {
      index.#restore(restoreFromStore(store, index.#meta(), (id) => index.#intern(id)));
    } catch (error) {
      store.close();
      throw error;
    }
    index.#live.store = store;
    return index;
  }

  /** Close the SQLite file (after `stop()`); the in-memory view stays readable. */
  async close(): Promise<void> {
    await this.stop();
    this.#live.store?.close();
    this.#live.store = undefined;
  }

  /** Restore from a JSON file written by `save`; a missing file gives a fresh index. */
  static async load(path: string, options: SubscriptionIndexOptions): Promise<SubscriptionIndex> {
    const snapshot = await readSnapshot(path);
    return snapshot === undefined ? new SubscriptionIndex(options) : SubscriptionIndex.fromSnapshot(snapshot, options);
  }

  /**
   * Restore from a snapshot; it must be of the same chain and escrow. One of another start block
   * or node filter gives an empty index (re-read from the start block). A malformed snapshot is
   * an INVALID_ARGUMENT error.
   */
  static fromSnapshot(snapshot: IndexSnapshot, options: SubscriptionIndexOptions): SubscriptionIndex {
    const index = new SubscriptionIndex(options);
    index.#restore(restoreFromSnapshot(snapshot, index.#meta(), (id) => index.#intern(id)));
    return index;
  }

  toSnapshot(): IndexSnapshot {
    return snapshotOf(this.#meta(), { entries: this.#live.entries, cursor: this.#live.cursor, lastGoodAt: this.#lastGoodAt });
  }

  /** Write the JSON export to a file (atomically: a crash mid-write leaves the previous file). */
  save(path: string): Promise<void> {
    return writeSnapshot(path, this.toSnapshot());
  }

  get lastBlock(): number | undefined {
    return this.#live.cursor?.lastBlock;
  }

  get lastBlockHash(): string | undefined {
    return this.#live.cursor?.lastBlockHash;
  }

  /**
   * True while the last successful sync (which reached head − confirmations) is at most
   * `maxStalenessSeconds` old. A loaded index is not current until it has synced.
   */
  isCaughtUp(): boolean {
    return this.#syncedAt !== undefined && this.#clock() - this.#syncedAt <= this.maxStalenessSeconds * 1000;
  }

  /** Seconds since the last successful sync; undefined before the first one in this process. */
  staleForSeconds(): number | undefined {
    return this.#lastGoodAt === undefined ? undefined : Math.max(0, Math.floor((this.#clock() - this.#lastGoodAt) / 1000));
  }

  freshness(): IndexFreshness {
    const result: IndexFreshness = { fresh: this.isCaughtUp() };
    if (this.#syncedAt !== undefined) result.syncedAt = new Date(this.#syncedAt);
    if (this.#syncedHead !== undefined) result.head = this.#syncedHead;
    if (this.#live.cursor !== undefined) result.lastBlock = this.#live.cursor.lastBlock;
    if (this.#lastError !== undefined) result.lastError = this.#lastError;
    return result;
  }

  expiryOf(nodeId: string, clientId: string): bigint {
    return this.#live.entries.get(nodeId, clientId)?.expiresAt ?? 0n;
  }

  entry(nodeId: string, clientId: string): IndexEntry | undefined {
    const found = this.#live.entries.get(nodeId, clientId);
    return found === undefined ? undefined : publicEntry(found);
  }

  entries(): IndexEntry[] {
    return [...this.#live.entries.values()].map(publicEntry);
  }

  /** How many subscriptions are held. */
  get size(): number {
    return this.#live.entries.size;
  }

  /** One `expiries` call to the escrow, for when the index is not current. */
  async readExpiry(nodeId: string, clientId: string): Promise<bigint> {
    await this.#checkChain();
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const [expiry] = await withRetry("expiries", () => this.#contract.expiries([id], [client]), this.#retry);
    return expiry ?? 0n;
  }

  /** Read new events up to head − confirmations (a reorg re-reads aside). Concurrent calls share one run. */
  sync(): Promise<SyncResult> {
    this.#syncing ??= this.#sync().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  /**
   * Sync now and then every `intervalMs` until `stop()`; the loop goes on after errors, which go
   * to `onError` (default: console.error — a stalled index must not be silent).
   */
  start(intervalMs: number, onError?: (error: MailserverSdkError) => void): void {
    this.#loop.start(intervalMs, onError);
  }

  /**
   * Stop the loop; resolves once a sync in progress has ended, or after `stopWaitMs` (default
   * 2 s) when it has not: a shutdown during an RPC outage must not wait for the RPC. A sync left
   * running ends at its own deadlines; after `close()` it no longer writes the file.
   */
  stop(): Promise<void> {
    return this.#loop.stop();
  }

  // -------------------------------------------------------------------------------------------

  async #sync(): Promise<SyncResult> {
    try {
      await this.#checkChain();
      const { result, head } = await syncState(this.#source, this.#live);
      this.#syncedAt = this.#clock();
      this.#lastGoodAt = this.#syncedAt;
      this.#live.store?.markSynced?.(this.#syncedAt);
      this.#syncedHead = head;
      this.#lastError = undefined;
      return result;
    } catch (error) {
      this.#lastError = error instanceof MailserverSdkError ? error : new MailserverSdkError("CONTRACT_ERROR", "index sync failed", { cause: error });
      throw this.#lastError;
    }
  }

  async #checkChain(): Promise<void> {
    if (this.#chainChecked) return;
    await readChainId(this.#provider, this.#retry, this.chainId);
    this.#chainChecked = true;
  }

  #meta(): IndexMeta {
    return { chainId: this.chainId.toString(), escrow: this.escrow, startBlock: this.startBlock, nodeFilter: this.#nodeFilter };
  }

  #restore(restored: RestoredIndex | undefined): void {
    if (restored === undefined) return;
    this.#live.entries = restored.entries;
    this.#live.cursor = restored.cursor;
    this.#lastGoodAt = restored.lastGoodAt;
  }

  /** One string per node id for all its entries (memory: a 66-character id per entry adds up). */
  #intern(nodeId: string): string {
    const known = this.#nodeIds.get(nodeId);
    if (known !== undefined) return known;
    this.#nodeIds.set(nodeId, nodeId);
    return nodeId;
  }
}

/** The index's settings from its options, checked (INVALID_ARGUMENT, MISSING_ADDRESS). */
function settingsOf(options: SubscriptionIndexOptions) {
  const chainId = BigInt(options.chainId);
  const deployment = resolveDeployment(chainId, { escrow: options.escrow, startBlock: options.startBlock });
  return {
    chainId,
    escrow: checkAddress(requireAddress(deployment, "escrow", chainId), "escrow"),
    startBlock: nonNegativeInteger("startBlock", deployment.startBlock ?? 0),
    confirmations: nonNegativeInteger("confirmations", options.confirmations ?? 6),
    maxStalenessSeconds: nonNegativeInteger("maxStalenessSeconds", options.maxStalenessSeconds ?? 60),
    maxRange: positiveInteger("maxBlockRange", options.maxBlockRange ?? 2000),
  };
}

function publicEntry(e: StoredEntry): IndexEntry {
  return { nodeId: e.nodeId, clientId: getAddress(e.clientId), owner: getAddress(e.owner), expiresAt: e.expiresAt };
}
