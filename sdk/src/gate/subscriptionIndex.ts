import { getAddress, type Interface, type Log, type Provider } from "ethers";
import { requireAddress, resolveDeployment } from "../deployments.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { withRetry, type RetryOptions } from "../rpc.js";
import { checkAddress } from "../util.js";
import type { ISubscriptionEscrow } from "../typechain/interfaces/ISubscriptionEscrow.js";
import { ISubscriptionEscrow__factory } from "../typechain/factories/interfaces/ISubscriptionEscrow__factory.js";
import type { SubscriptionLookup } from "./accessGate.js";

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
  /** Blocks per getLogs call (default 2000). */
  maxBlockRange?: number;
  /** Only index these nodes (e.g. the server's own). Default: all. */
  nodeIds?: readonly string[];
  retry?: RetryOptions;
}

export interface IndexEntry {
  nodeId: NodeId;
  clientId: string;
  owner: string;
  /** Seconds. */
  expiresAt: bigint;
}

/** The saved form: what a restarted server needs to continue where it stopped. */
export interface IndexSnapshot {
  version: 1;
  chainId: string;
  escrow: string;
  startBlock: number;
  /** Last block fully applied, or null when nothing was read yet. */
  lastBlock: number | null;
  lastBlockHash: string | null;
  entries: { nodeId: string; clientId: string; owner: string; expiresAt: string }[];
}

export interface SyncResult {
  fromBlock: number | undefined;
  toBlock: number | undefined;
  /** Events applied. */
  events: number;
  /** The last synced block had been replaced: everything was re-read from the start block. */
  reorg: boolean;
}

const EVENT_NAMES = ["Subscribed", "Extended", "Cancelled", "ClientIdChanged"] as const;

const key = (nodeId: string, clientId: string) => `${nodeId.toLowerCase()}|${clientId.toLowerCase()}`;

/** A reorg detected while reading: start over. */
class ReorgDuringSync extends Error {}

/**
 * Subscription expiries kept in memory from the escrow's events, so an access check needs no
 * RPC. Reads only up to head − confirmations; remembers the hash of the last block it read and,
 * if that block is no longer on the chain (a reorg deeper than the confirmations), forgets
 * everything and re-reads from the start block.
 */
export class SubscriptionIndex implements SubscriptionLookup {
  readonly escrow: string;
  readonly chainId: bigint;
  readonly startBlock: number;
  readonly confirmations: number;
  readonly #provider: Provider;
  readonly #contract: ISubscriptionEscrow;
  readonly #iface: Interface;
  readonly #maxRange: number;
  readonly #nodeTopics: string[] | null;
  readonly #retry: RetryOptions;
  #entries = new Map<string, IndexEntry>();
  #lastBlock: number | undefined;
  #lastBlockHash: string | undefined;
  #caughtUp = false;
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
    this.#maxRange = options.maxBlockRange ?? 2000;
    for (const [name, value] of [["startBlock", this.startBlock], ["confirmations", this.confirmations]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw new MailserverSdkError("INVALID_ARGUMENT", `${name} must be a non-negative integer`, { details: { [name]: value } });
    }
    if (!Number.isSafeInteger(this.#maxRange) || this.#maxRange < 1) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "maxBlockRange must be a positive integer", { details: { maxBlockRange: this.#maxRange } });
    }
    this.#provider = options.provider;
    this.#contract = ISubscriptionEscrow__factory.connect(this.escrow, options.provider);
    this.#iface = this.#contract.interface as unknown as Interface;
    this.#nodeTopics = options.nodeIds === undefined ? null : options.nodeIds.map(normalizeNodeId);
    this.#retry = options.retry ?? {};
  }

  /** Restore from a file written by `save`; a missing file gives a fresh index. */
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

  /** Restore from a snapshot; it must be of the same chain and escrow. */
  static fromSnapshot(snapshot: IndexSnapshot, options: SubscriptionIndexOptions): SubscriptionIndex {
    const index = new SubscriptionIndex(options);
    if (snapshot?.version !== 1) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "unsupported index snapshot version", { details: { version: snapshot?.version } });
    }
    if (BigInt(snapshot.chainId) !== index.chainId) {
      throw new MailserverSdkError("WRONG_CHAIN", `index snapshot is of chain ${snapshot.chainId}, expected ${index.chainId}`, {
        details: { expected: index.chainId, actual: BigInt(snapshot.chainId) },
      });
    }
    if (getAddress(snapshot.escrow) !== index.escrow) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "index snapshot is of another escrow", { details: { expected: index.escrow, actual: snapshot.escrow } });
    }
    if (snapshot.startBlock === index.startBlock && snapshot.lastBlock !== null && snapshot.lastBlockHash !== null) {
      index.#lastBlock = snapshot.lastBlock;
      index.#lastBlockHash = snapshot.lastBlockHash;
      for (const e of snapshot.entries) {
        index.#entries.set(key(e.nodeId, e.clientId), {
          nodeId: normalizeNodeId(e.nodeId),
          clientId: getAddress(e.clientId),
          owner: getAddress(e.owner),
          expiresAt: BigInt(e.expiresAt),
        });
      }
    }
    // Otherwise (nothing read yet, or another start block) the snapshot says nothing usable.
    return index;
  }

  toSnapshot(): IndexSnapshot {
    return {
      version: 1,
      chainId: this.chainId.toString(),
      escrow: this.escrow,
      startBlock: this.startBlock,
      lastBlock: this.#lastBlock ?? null,
      lastBlockHash: this.#lastBlockHash ?? null,
      entries: [...this.#entries.values()].map((e) => ({ nodeId: e.nodeId, clientId: e.clientId, owner: e.owner, expiresAt: e.expiresAt.toString() })),
    };
  }

  /** Write the index to a file (atomically: a crash mid-write leaves the previous file). */
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
    return this.#lastBlock;
  }

  get lastBlockHash(): string | undefined {
    return this.#lastBlockHash;
  }

  /** True once a sync reached head − confirmations (since construction or load). */
  isCaughtUp(): boolean {
    return this.#caughtUp;
  }

  expiryOf(nodeId: string, clientId: string): bigint {
    return this.#entries.get(key(nodeId, clientId))?.expiresAt ?? 0n;
  }

  entry(nodeId: string, clientId: string): IndexEntry | undefined {
    const found = this.#entries.get(key(nodeId, clientId));
    return found === undefined ? undefined : { ...found };
  }

  entries(): IndexEntry[] {
    return [...this.#entries.values()].map((e) => ({ ...e }));
  }

  /** One `expiries` call to the escrow, for before the index has caught up. */
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
      this.#syncing = this.#sync().finally(() => {
        this.#syncing = undefined;
      });
    }
    return this.#syncing;
  }

  /** Sync now and then every `intervalMs` until `stop()`; errors go to `onError` and the loop goes on. */
  start(intervalMs: number, onError: (error: MailserverSdkError) => void = () => undefined): void {
    if (this.#running) return;
    this.#running = true;
    const tick = async () => {
      try {
        await this.sync();
      } catch (error) {
        onError(error instanceof MailserverSdkError ? error : new MailserverSdkError("CONTRACT_ERROR", "index sync failed", { cause: error }));
      }
      if (this.#running) this.#timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
  }

  /** Stop the loop; resolves once a sync in progress has ended. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#syncing?.catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------

  #read<T>(label: string, call: () => Promise<T>): Promise<T> {
    return withRetry(label, call, this.#retry);
  }

  async #checkChain(): Promise<void> {
    if (this.#chainChecked) return;
    const { chainId } = await this.#read("read chain id", () => this.#provider.getNetwork());
    if (chainId !== this.chainId) {
      throw new MailserverSdkError("WRONG_CHAIN", `connected to chain ${chainId}, expected chain ${this.chainId}`, {
        details: { expected: this.chainId, actual: chainId },
      });
    }
    this.#chainChecked = true;
  }

  async #blockHash(blockNumber: number): Promise<string | undefined> {
    const block = await this.#read("getBlock", () => this.#provider.getBlock(blockNumber));
    return block?.hash ?? undefined;
  }

  #reset(): void {
    this.#entries = new Map();
    this.#lastBlock = undefined;
    this.#lastBlockHash = undefined;
    this.#caughtUp = false;
  }

  async #sync(): Promise<SyncResult> {
    await this.#checkChain();
    let reorg = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.#syncOnce();
        return { ...result, reorg: reorg || result.reorg };
      } catch (error) {
        // The chain moved under us mid-read: start over, a few times at most.
        if (!(error instanceof ReorgDuringSync) || attempt >= 3) {
          if (error instanceof ReorgDuringSync) throw new MailserverSdkError("RPC_UNAVAILABLE", "the chain keeps reorganizing during sync");
          throw error;
        }
        this.#reset();
        reorg = true;
      }
    }
  }

  async #syncOnce(): Promise<SyncResult> {
    let reorg = false;
    if (this.#lastBlock !== undefined) {
      const hash = await this.#blockHash(this.#lastBlock);
      if (hash !== this.#lastBlockHash) {
        this.#reset();
        reorg = true;
      }
    }
    const head = await this.#read("getBlockNumber", () => this.#provider.getBlockNumber());
    const target = head - this.confirmations;
    const from = this.#lastBlock === undefined ? this.startBlock : this.#lastBlock + 1;
    if (target < from) {
      this.#caughtUp = true;
      return { fromBlock: undefined, toBlock: undefined, events: 0, reorg };
    }

    const topics: (string | string[] | null)[] = [EVENT_NAMES.map((name) => this.#iface.getEvent(name)!.topicHash)];
    if (this.#nodeTopics !== null) topics.push(this.#nodeTopics);
    let events = 0;
    for (let start = from; start <= target; start += this.#maxRange) {
      const end = Math.min(start + this.#maxRange - 1, target);
      const hashBefore = await this.#blockHash(end);
      const logs = await this.#read("getLogs", () => this.#provider.getLogs({ address: this.escrow, topics, fromBlock: start, toBlock: end }));
      const hashAfter = await this.#blockHash(end);
      if (hashBefore === undefined || hashBefore !== hashAfter) throw new ReorgDuringSync();
      for (const log of logs) {
        if (log.blockNumber === end && log.blockHash !== hashBefore) throw new ReorgDuringSync();
        if (log.removed) continue;
        if (this.#apply(log)) events++;
      }
      this.#lastBlock = end;
      this.#lastBlockHash = hashBefore;
    }
    this.#caughtUp = true;
    return { fromBlock: from, toBlock: target, events, reorg };
  }

  #apply(log: Log): boolean {
    let parsed;
    try {
      parsed = this.#iface.parseLog(log);
    } catch {
      return false;
    }
    if (parsed === null) return false;
    const args = parsed.args;
    const nodeId = normalizeNodeId(args.getValue("nodeId"));
    switch (parsed.name) {
      case "Subscribed": {
        const clientId = getAddress(args.getValue("clientId"));
        this.#entries.set(key(nodeId, clientId), { nodeId, clientId, owner: getAddress(args.getValue("owner")), expiresAt: args.getValue("expiresAt") });
        return true;
      }
      case "Extended": {
        const clientId = getAddress(args.getValue("clientId"));
        const previous = this.#entries.get(key(nodeId, clientId));
        this.#entries.set(key(nodeId, clientId), {
          nodeId,
          clientId,
          owner: previous?.owner ?? getAddress(args.getValue("payer")),
          expiresAt: args.getValue("expiresAt"),
        });
        return true;
      }
      case "Cancelled": {
        this.#entries.delete(key(nodeId, args.getValue("clientId")));
        return true;
      }
      case "ClientIdChanged": {
        const oldClientId = getAddress(args.getValue("oldClientId"));
        const newClientId = getAddress(args.getValue("newClientId"));
        const previous = this.#entries.get(key(nodeId, oldClientId));
        this.#entries.delete(key(nodeId, oldClientId));
        if (previous !== undefined) this.#entries.set(key(nodeId, newClientId), { ...previous, clientId: newClientId, owner: getAddress(args.getValue("owner")) });
        return true;
      }
      default:
        return false;
    }
  }
}
