import { getAddress, type Provider } from "ethers";
import { checkAddress } from "../util.js";
import { requireAddress, resolveDeployment } from "../deployments.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { readChainId } from "../chain.js";
import { nonNegativeInteger, positiveInteger } from "../core/args.js";
import { withRetry, type RetryOptions } from "../rpc.js";
import type { ISubscriptionEscrow } from "../typechain/interfaces/ISubscriptionEscrow.js";
import { escrowContract } from "../core/contracts.js";
import type { SubscriptionLookup } from "./expiryLookup.js";
import { blockNumberOf, decodeEscrowLog } from "./escrowLogs.js";
import { EscrowLogReader } from "./escrowLogReader.js";
import { EntryMap, entryKey, type IndexCursor, type IndexMeta, type IndexStore, type StoredEntry } from "./indexStore.js";

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

/** The JSON export: what a restarted server needs to continue where it stopped. */
export interface IndexSnapshot {
  /** 2; a version 1 file (no node filter) loads as an empty index that re-reads. */
  version: 1 | 2;
  chainId: string;
  escrow: string;
  startBlock: number;
  /** The nodes indexed (sorted), or null for all. A snapshot of other nodes is not reused. */
  nodeIds: string[] | null;
  /** Last block fully applied, or null when nothing was read yet. */
  lastBlock: number | null;
  lastBlockHash: string | null;
  entries: { nodeId: string; clientId: string; owner: string; expiresAt: string }[];
  /** When the saving process last synced successfully (ms since 1970); absent in older files. */
  syncedAt?: number;
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

export interface SyncResult {
  fromBlock: number | undefined;
  toBlock: number | undefined;
  /** Events applied. */
  events: number;
  /** The chain no longer held what was read: everything was re-read from the start block. */
  reorg: boolean;
}

const ZERO_HASH = `0x${"0".repeat(64)}`;

/** A reorg detected while reading: start over. */
class ReorgDuringSync extends Error {}

/** What a sync reads into: the live state, or a new one built aside during a re-read. */
interface ReadState {
  entries: EntryMap;
  cursor: IndexCursor | undefined;
  live: boolean;
}

/** The RPC has no header for a block it should have: it lags behind its own head (retry later). */
const missingHeader = (block: number) =>
  new MailserverSdkError("RPC_UNAVAILABLE", `the RPC returned no header for block ${block} (lagging behind its head); retrying on the next sync`, { details: { block } });

const nodeFilterOf = (nodeIds: readonly string[] | undefined) => (nodeIds === undefined ? null : [...new Set(nodeIds.map(normalizeNodeId))].sort());
const sameFilter = (a: string[] | null, b: string[] | null) => (a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => x === b[i]));

const defaultReport = (error: MailserverSdkError) => console.error(`[mailserver-sdk index] ${error.code}: ${error.message}`);

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
  readonly #maxRange: number;
  readonly #nodeFilter: string[] | null;
  readonly #retry: RetryOptions;
  readonly #clock: () => number;
  readonly #onRange: SubscriptionIndexOptions["onRange"];
  readonly #stopWaitMs: number;
  readonly #reader: EscrowLogReader;
  #store: IndexStore | undefined;
  #entries = new EntryMap();
  readonly #nodeIds = new Map<string, string>();
  #cursor: IndexCursor | undefined;
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
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;

  constructor(options: SubscriptionIndexOptions) {
    this.chainId = BigInt(options.chainId);
    const deployment = resolveDeployment(this.chainId, { escrow: options.escrow, startBlock: options.startBlock });
    this.escrow = checkAddress(requireAddress(deployment, "escrow", this.chainId), "escrow");
    this.startBlock = deployment.startBlock ?? 0;
    this.confirmations = options.confirmations ?? 6;
    this.maxStalenessSeconds = options.maxStalenessSeconds ?? 60;
    this.#maxRange = options.maxBlockRange ?? 2000;
    nonNegativeInteger("startBlock", this.startBlock);
    nonNegativeInteger("confirmations", this.confirmations);
    nonNegativeInteger("maxStalenessSeconds", this.maxStalenessSeconds);
    positiveInteger("maxBlockRange", this.#maxRange);
    this.#provider = options.provider;
    this.#contract = escrowContract(this.escrow, options.provider);
    this.#nodeFilter = nodeFilterOf(options.nodeIds);
    this.#retry = options.retry ?? {};
    this.#clock = options.clock ?? Date.now;
    this.#onRange = options.onRange;
    this.#stopWaitMs = nonNegativeInteger("stopWaitMs", options.stopWaitMs ?? 2_000);
    this.#reader = new EscrowLogReader({ provider: this.#provider, escrow: this.escrow, nodeFilter: this.#nodeFilter, read: (label, call) => this.#read(label, call) });
  }

  /**
   * Open (or create) the index's SQLite file and continue from what it holds. A file written for
   * another chain (WRONG_CHAIN) or escrow (INVALID_ARGUMENT) is refused; one of another start
   * block or node filter is emptied and re-read. Node-only: needs Node.js >= 22.13 (built-in
   * `node:sqlite`, no native addon). `close()` when done.
   */
  static async open(path: string, options: SubscriptionIndexOptions): Promise<SubscriptionIndex> {
    const index = new SubscriptionIndex(options);
    let sqlite: typeof import("./sqliteStore.js");
    try {
      sqlite = await importQuietly(() => import("./sqliteStore.js"));
    } catch (error) {
      // node:sqlite is built into Node >= 22.13; older Nodes (and browsers) do not have it.
      throw new MailserverSdkError("INVALID_ARGUMENT", "SubscriptionIndex.open needs Node.js >= 22.13 (its built-in node:sqlite)", { cause: error, details: { missing: "node:sqlite" } });
    }
    const { SqliteIndexStore } = sqlite;
    const store = new SqliteIndexStore(path);
    try {
      index.#attach(store);
    } catch (error) {
      store.close();
      throw error;
    }
    return index;
  }

  #meta(): IndexMeta {
    return { chainId: this.chainId.toString(), escrow: this.escrow, startBlock: this.startBlock, nodeFilter: this.#nodeFilter };
  }

  #checkIdentity(chainId: string, escrow: string): void {
    let chain: bigint;
    try {
      chain = BigInt(chainId);
    } catch (error) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `index of an unreadable chain id ${chainId}`, { cause: error });
    }
    if (chain !== this.chainId) {
      throw new MailserverSdkError("WRONG_CHAIN", `index is of chain ${chainId}, expected ${this.chainId}`, { details: { expected: this.chainId, actual: chain } });
    }
    if (typeof escrow !== "string" || escrow.toLowerCase() !== this.escrow.toLowerCase()) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "index is of another escrow", { details: { expected: this.escrow, actual: escrow } });
    }
  }

  #attach(store: IndexStore): void {
    const stored = store.load();
    if (stored !== undefined) this.#checkIdentity(stored.meta.chainId, stored.meta.escrow);
    if (stored === undefined || stored.meta.startBlock !== this.startBlock || !sameFilter(stored.meta.nodeFilter, this.#nodeFilter)) {
      // New, or it covers other blocks or nodes: what it holds cannot be continued.
      store.reset(this.#meta());
    } else {
      this.#cursor = stored.cursor ?? undefined;
      if (stored.syncedAt !== undefined && this.#cursor !== undefined) this.#lastGoodAt = stored.syncedAt;
      for (const entry of stored.entries) {
        entry.nodeId = this.#intern(entry.nodeId);
        this.#entries.set(entry);
      }
    }
    this.#store = store;
  }

  /** Close the SQLite file (after `stop()`); the in-memory view stays readable. */
  async close(): Promise<void> {
    await this.stop();
    this.#store?.close();
    this.#store = undefined;
  }

  /** Restore from a JSON file written by `save`; a missing file gives a fresh index. */
  static async load(path: string, options: SubscriptionIndexOptions): Promise<SubscriptionIndex> {
    const { readFile } = await import("node:fs/promises");
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return new SubscriptionIndex(options);
      throw new MailserverSdkError("INVALID_ARGUMENT", `cannot read index file ${path}`, { cause: error });
    }
    let snapshot: IndexSnapshot;
    try {
      snapshot = JSON.parse(text) as IndexSnapshot;
    } catch (error) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `index file ${path} is not JSON`, { cause: error });
    }
    return SubscriptionIndex.fromSnapshot(snapshot, options);
  }

  /**
   * Restore from a snapshot; it must be of the same chain and escrow. One of another start block
   * or node filter gives an empty index (re-read from the start block). A malformed snapshot is
   * an INVALID_ARGUMENT error.
   */
  static fromSnapshot(snapshot: IndexSnapshot, options: SubscriptionIndexOptions): SubscriptionIndex {
    const index = new SubscriptionIndex(options);
    const bad = (message: string, cause?: unknown) => new MailserverSdkError("INVALID_ARGUMENT", `index snapshot: ${message}`, { cause });
    if (typeof snapshot !== "object" || snapshot === null) throw bad("not an object");
    if (snapshot.version !== 1 && snapshot.version !== 2) throw new MailserverSdkError("INVALID_ARGUMENT", "unsupported index snapshot version", { details: { version: snapshot.version } });
    index.#checkIdentity(snapshot.chainId, snapshot.escrow);
    // Version 1 did not record which nodes it covered: nothing in it can be trusted to be complete.
    if (snapshot.version === 1) return index;
    let filter: string[] | null;
    try {
      filter = snapshot.nodeIds === null ? null : nodeFilterOf(snapshot.nodeIds);
    } catch (error) {
      throw bad("nodeIds is not a list of node ids", error);
    }
    if (snapshot.startBlock !== index.startBlock || !sameFilter(filter, index.#nodeFilter) || snapshot.lastBlock === null) return index;
    if (!Number.isSafeInteger(snapshot.lastBlock) || typeof snapshot.lastBlockHash !== "string" || !Array.isArray(snapshot.entries)) throw bad("lastBlock, lastBlockHash or entries malformed");
    const entries = new EntryMap();
    for (const e of snapshot.entries) {
      try {
        const entry = { nodeId: index.#intern(normalizeNodeId(e.nodeId)), clientId: checkAddress(e.clientId, "clientId").toLowerCase(), owner: checkAddress(e.owner, "owner").toLowerCase(), expiresAt: BigInt(e.expiresAt) };
        entries.set(entry);
      } catch (error) {
        throw bad(`malformed entry ${JSON.stringify(e)}`, error);
      }
    }
    index.#entries = entries;
    index.#cursor = { lastBlock: snapshot.lastBlock, lastBlockHash: snapshot.lastBlockHash };
    if (Number.isSafeInteger(snapshot.syncedAt)) index.#lastGoodAt = snapshot.syncedAt;
    return index;
  }

  toSnapshot(): IndexSnapshot {
    return {
      version: 2,
      chainId: this.chainId.toString(),
      escrow: this.escrow,
      startBlock: this.startBlock,
      nodeIds: this.#nodeFilter,
      lastBlock: this.#cursor?.lastBlock ?? null,
      lastBlockHash: this.#cursor?.lastBlockHash ?? null,
      entries: [...this.#entries.values()].map((e) => ({ nodeId: e.nodeId, clientId: getAddress(e.clientId), owner: getAddress(e.owner), expiresAt: e.expiresAt.toString() })),
      ...(this.#lastGoodAt === undefined ? {} : { syncedAt: this.#lastGoodAt }),
    };
  }

  /** Write the JSON export to a file (atomically: a crash mid-write leaves the previous file). */
  async save(path: string): Promise<void> {
    const { writeFile, rename } = await import("node:fs/promises");
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(this.toSnapshot(), null, 1));
      await rename(temporary, path);
    } catch (error) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `cannot write index file ${path}`, { cause: error });
    }
  }

  get lastBlock(): number | undefined {
    return this.#cursor?.lastBlock;
  }

  get lastBlockHash(): string | undefined {
    return this.#cursor?.lastBlockHash;
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
    if (this.#cursor !== undefined) result.lastBlock = this.#cursor.lastBlock;
    if (this.#lastError !== undefined) result.lastError = this.#lastError;
    return result;
  }

  expiryOf(nodeId: string, clientId: string): bigint {
    return this.#entries.get(nodeId, clientId)?.expiresAt ?? 0n;
  }

  entry(nodeId: string, clientId: string): IndexEntry | undefined {
    const found = this.#entries.get(nodeId, clientId);
    return found === undefined ? undefined : publicEntry(found);
  }

  entries(): IndexEntry[] {
    return [...this.#entries.values()].map(publicEntry);
  }

  /** How many subscriptions are held. */
  get size(): number {
    return this.#entries.size;
  }

  /** One `expiries` call to the escrow, for when the index is not current. */
  async readExpiry(nodeId: string, clientId: string): Promise<bigint> {
    await this.#checkChain();
    const id = normalizeNodeId(nodeId);
    const client = checkAddress(clientId, "clientId");
    const [expiry] = await this.#read("expiries", () => this.#contract.expiries([id], [client]));
    return expiry ?? 0n;
  }

  /** Read new events up to head − confirmations. Concurrent calls share one run. */
  sync(): Promise<SyncResult> {
    if (this.#syncing === undefined) {
      this.#syncing = this.#sync()
        .then(
          (result) => {
            this.#lastError = undefined;
            return result;
          },
          (error: unknown) => {
            this.#lastError = error instanceof MailserverSdkError ? error : new MailserverSdkError("CONTRACT_ERROR", "index sync failed", { cause: error });
            throw this.#lastError;
          },
        )
        .finally(() => {
          this.#syncing = undefined;
        });
    }
    return this.#syncing;
  }

  /**
   * Sync now and then every `intervalMs` until `stop()`; the loop goes on after errors, which go
   * to `onError` (default: console.error — a stalled index must not be silent).
   */
  start(intervalMs: number, onError: (error: MailserverSdkError) => void = defaultReport): void {
    if (this.#running) return;
    this.#running = true;
    const tick = async () => {
      try {
        await this.sync();
      } catch (error) {
        try {
          onError(error as MailserverSdkError);
        } catch {
          // A failing reporter must not stop the loop.
        }
      }
      if (this.#running) this.#timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
  }

  /**
   * Stop the loop; resolves once a sync in progress has ended, or after `stopWaitMs` (default
   * 2 s) when it has not: a shutdown during an RPC outage must not wait for the RPC. A sync left
   * running ends at its own deadlines; after `close()` it no longer writes the file.
   */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const running = this.#syncing;
    if (running === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#stopWaitMs);
    });
    await Promise.race([running.catch(() => undefined), waited]).finally(() => clearTimeout(timer));
  }

  // -------------------------------------------------------------------------------------------

  #read<T>(label: string, call: () => Promise<T>): Promise<T> {
    return withRetry(label, call, this.#retry);
  }

  async #checkChain(): Promise<void> {
    if (this.#chainChecked) return;
    await readChainId(this.#provider, this.#retry, this.chainId);
    this.#chainChecked = true;
  }

  async #header(blockNumber: number): Promise<{ hash: string; parentHash: string } | undefined> {
    const block = await this.#read("getBlock", () => this.#provider.getBlock(blockNumber));
    return block?.hash == null ? undefined : { hash: block.hash, parentHash: block.parentHash };
  }

  /**
   * Read new events, or re-read from the start block when the chain no longer holds the last
   * block read (a reorg). A re-read builds the new state aside and swaps it in whole: until then
   * the gate keeps answering from the previous state, never from a half-read one.
   */
  async #sync(): Promise<SyncResult> {
    await this.#checkChain();
    let rebuild = !(await this.#continuesChain());
    for (let attempt = 0; ; attempt++) {
      try {
        if (!rebuild) {
          const live: ReadState = { entries: this.#entries, cursor: this.#cursor, live: true };
          const { result, head } = await this.#readForward(live);
          this.#synced(head);
          return { ...result, reorg: false };
        }
        const aside: ReadState = { entries: new EntryMap(), cursor: undefined, live: false };
        const { result, head } = await this.#readForward(aside);
        this.#swapIn(aside);
        this.#synced(head);
        return { ...result, reorg: true };
      } catch (error) {
        // The chain moved under us mid-read: read it all again (aside), a few times at most.
        if (!(error instanceof ReorgDuringSync)) throw error;
        if (attempt >= 3) throw new MailserverSdkError("RPC_UNAVAILABLE", "the chain keeps reorganizing during sync");
        rebuild = true;
      }
    }
  }

  #synced(head: number): void {
    this.#syncedAt = this.#clock();
    this.#lastGoodAt = this.#syncedAt;
    this.#store?.markSynced?.(this.#syncedAt);
    this.#syncedHead = head;
  }

  /**
   * Whether the last block read is still the chain's. A missing header is a lagging RPC (a
   * transient error), not a reorg, unless the chain is now shorter than that block.
   */
  async #continuesChain(): Promise<boolean> {
    if (this.#cursor === undefined) return true;
    const last = await this.#header(this.#cursor.lastBlock);
    if (last === undefined) {
      const head = await this.#read("getBlockNumber", () => this.#provider.getBlockNumber());
      if (head < this.#cursor.lastBlock) return false;
      throw missingHeader(this.#cursor.lastBlock);
    }
    return last.hash === this.#cursor.lastBlockHash;
  }

  /** Replace the live state (memory and storage) by one read aside. */
  #swapIn(aside: ReadState): void {
    // Storage first, in one transaction: if it fails, memory still matches what is stored.
    this.#store?.replace(this.#meta(), aside.entries.values(), aside.cursor ?? null);
    this.#entries = aside.entries;
    this.#cursor = aside.cursor;
  }

  async #readForward(state: ReadState): Promise<{ result: Omit<SyncResult, "reorg">; head: number }> {
    const head = await this.#read("getBlockNumber", () => this.#provider.getBlockNumber());
    const target = head - this.confirmations;
    const from = state.cursor === undefined ? this.startBlock : state.cursor.lastBlock + 1;
    let events = 0;
    for (let start = from; start <= target; start += this.#maxRange) {
      const end = Math.min(start + this.#maxRange - 1, target);
      events += await this.#syncRange(state, start, end);
    }
    return { result: from > target ? { fromBlock: undefined, toBlock: undefined, events: 0 } : { fromBlock: from, toBlock: target, events }, head };
  }

  /**
   * Read and apply one range to `state`. It must descend from what was read before: the end
   * block's hash is the same before and after the logs are read (nothing in between was
   * replaced), the start block's parent is the last block applied, and every log is of those
   * blocks.
   */
  async #syncRange(state: ReadState, start: number, end: number): Promise<number> {
    const endBefore = await this.#header(end);
    if (endBefore === undefined) throw missingHeader(end);
    const first = start === end ? endBefore : await this.#header(start);
    if (first === undefined) throw missingHeader(start);
    // A zero parent hash is no real block's: Hardhat's `hardhat_mine` leaves it on the blocks it
    // reserves. Those ranges are checked by the end hash alone.
    if (state.cursor !== undefined && first.parentHash !== state.cursor.lastBlockHash && first.parentHash !== ZERO_HASH) throw new ReorgDuringSync();
    const logs = await this.#reader.logs(start, end);
    const endAfter = await this.#header(end);
    if (endAfter === undefined) throw missingHeader(end);
    if (endAfter.hash !== endBefore.hash) throw new ReorgDuringSync();

    const changes = new Map<string, StoredEntry | null>();
    const current = (key: string) => (changes.has(key) ? (changes.get(key) ?? undefined) : state.entries.getByKey(key));
    let events = 0;
    for (const log of logs) {
      if (log.removed === true) continue;
      const block = blockNumberOf(log);
      if ((block === end && log.blockHash !== endBefore.hash) || (block === start && log.blockHash !== first.hash)) throw new ReorgDuringSync();
      const event = decodeEscrowLog(log);
      if (event === undefined) continue;
      event.nodeId = this.#intern(event.nodeId);
      events++;
      switch (event.kind) {
        case "subscribed":
          changes.set(entryKey(event.nodeId, event.clientId), { nodeId: event.nodeId, clientId: event.clientId, owner: event.owner, expiresAt: event.expiresAt });
          break;
        case "extended": {
          const key = entryKey(event.nodeId, event.clientId);
          changes.set(key, { nodeId: event.nodeId, clientId: event.clientId, owner: current(key)?.owner ?? event.payer, expiresAt: event.expiresAt });
          break;
        }
        case "cancelled":
          changes.set(entryKey(event.nodeId, event.clientId), null);
          break;
        case "clientIdChanged": {
          // The event carries the moved record, so the new key's entry needs nothing from the old one.
          changes.set(entryKey(event.nodeId, event.oldClientId), null);
          changes.set(entryKey(event.nodeId, event.newClientId), { nodeId: event.nodeId, clientId: event.newClientId, owner: event.owner, expiresAt: event.expiresAt });
          break;
        }
      }
    }
    const cursor = { lastBlock: end, lastBlockHash: endBefore.hash };
    // Storage first: if it fails, memory still matches what is stored. A state read aside is
    // stored whole when it is swapped in.
    if (state.live) this.#store?.commit(changes, cursor);
    for (const [key, entry] of changes) {
      if (entry === null) state.entries.deleteByKey(key);
      else state.entries.set(entry);
    }
    state.cursor = cursor;
    if (state.live) this.#cursor = cursor;
    this.#onRange?.({ fromBlock: start, toBlock: end, events });
    return events;
  }

  /** One string per node id for all its entries (memory: a 66-character id per entry adds up). */
  #intern(nodeId: string): string {
    const known = this.#nodeIds.get(nodeId);
    if (known !== undefined) return known;
    this.#nodeIds.set(nodeId, nodeId);
    return nodeId;
  }
}

/**
 * Run a dynamic import while hiding the one ExperimentalWarning `node:sqlite` prints when it is
 * first loaded (it works as documented; the warning would only alarm operators). Every other
 * warning passes through.
 */
async function importQuietly<T>(load: () => Promise<T>): Promise<T> {
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const text = typeof warning === "string" ? warning : warning.message;
    if (type === "ExperimentalWarning" && /SQLite/i.test(text)) return;
    return (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await load();
  } finally {
    process.emitWarning = original;
  }
}

function publicEntry(e: StoredEntry): IndexEntry {
  return { nodeId: e.nodeId, clientId: getAddress(e.clientId), owner: getAddress(e.owner), expiresAt: e.expiresAt };
}
