// How the index follows the chain: read forward to head − confirmations range by range, each
// range checked to descend from the last block applied; on a reorg, re-read from the start
// block into a state built aside and swapped in whole. And the loop that syncs on an interval.
import type { Provider } from "ethers";
import { MailserverSdkError } from "../errors.js";
import type { EscrowLogReader } from "./escrowLogReader.js";
import { foldRange, ReorgDuringSync } from "./indexFold.js";
import { EntryMap, type IndexCursor, type IndexMeta, type IndexStore } from "./indexStore.js";

export interface SyncResult {
  fromBlock: number | undefined;
  toBlock: number | undefined;
  /** Events applied. */
  events: number;
  /** The chain no longer held what was read: everything was re-read from the start block. */
  reorg: boolean;
}

/** What a sync reads into: the live state (with its storage, when persisted), or one built aside. */
export interface IndexState {
  entries: EntryMap;
  cursor: IndexCursor | undefined;
  /** Where the live state is persisted; undefined for a state read aside (stored when swapped in). */
  store: IndexStore | undefined;
}

/** What following the chain needs of the index. */
export interface ChainSource {
  provider: Provider;
  reader: EscrowLogReader;
  /** One RPC call with the index's retry policy and deadline. */
  read<T>(label: string, call: () => Promise<T>): Promise<T>;
  startBlock: number;
  confirmations: number;
  maxRange: number;
  meta(): IndexMeta;
  intern(nodeId: string): string;
  onRange?: (range: { fromBlock: number; toBlock: number; events: number }) => void;
}

const ZERO_HASH = `0x${"0".repeat(64)}`;

/** The RPC has no header for a block it should have: it lags behind its own head (retry later). */
const missingHeader = (block: number) =>
  new MailserverSdkError("RPC_UNAVAILABLE", `the RPC returned no header for block ${block} (lagging behind its head); retrying on the next sync`, { details: { block } });

async function header(c: ChainSource, blockNumber: number): Promise<{ hash: string; parentHash: string } | undefined> {
  const block = await c.read("getBlock", () => c.provider.getBlock(blockNumber));
  return block?.hash == null ? undefined : { hash: block.hash, parentHash: block.parentHash };
}

/**
 * Read new events into `live`, or re-read from the start block when the chain no longer holds
 * the last block read (a reorg). A re-read builds the new state aside and swaps it in whole:
 * until then the gate keeps answering from the previous state, never from a half-read one.
 * Returns the result and the head seen.
 */
export async function syncState(c: ChainSource, live: IndexState): Promise<{ result: SyncResult; head: number }> {
  let rebuild = !(await continuesChain(c, live.cursor));
  for (let attempt = 0; ; attempt++) {
    try {
      if (!rebuild) {
        const { result, head } = await readForward(c, live);
        return { result: { ...result, reorg: false }, head };
      }
      const aside: IndexState = { entries: new EntryMap(), cursor: undefined, store: undefined };
      const { result, head } = await readForward(c, aside);
      // Storage first, in one transaction: if it fails, memory still matches what is stored.
      live.store?.replace(c.meta(), aside.entries.values(), aside.cursor ?? null);
      live.entries = aside.entries;
      live.cursor = aside.cursor;
      return { result: { ...result, reorg: true }, head };
    } catch (error) {
      // The chain moved under us mid-read: read it all again (aside), a few times at most.
      if (!(error instanceof ReorgDuringSync)) throw error;
      if (attempt >= 3) throw new MailserverSdkError("RPC_UNAVAILABLE", "the chain keeps reorganizing during sync");
      rebuild = true;
    }
  }
}

/**
 * Whether the last block read is still the chain's. A missing header is a lagging RPC (a
 * transient error), not a reorg, unless the chain is now shorter than that block.
 */
async function continuesChain(c: ChainSource, cursor: IndexCursor | undefined): Promise<boolean> {
  if (cursor === undefined) return true;
  const last = await header(c, cursor.lastBlock);
  if (last === undefined) {
    const head = await c.read("getBlockNumber", () => c.provider.getBlockNumber());
    if (head < cursor.lastBlock) return false;
    throw missingHeader(cursor.lastBlock);
  }
  return last.hash === cursor.lastBlockHash;
}

async function readForward(c: ChainSource, state: IndexState): Promise<{ result: Omit<SyncResult, "reorg">; head: number }> {
  const head = await c.read("getBlockNumber", () => c.provider.getBlockNumber());
  const target = head - c.confirmations;
  const from = state.cursor === undefined ? c.startBlock : state.cursor.lastBlock + 1;
  let events = 0;
  for (let start = from; start <= target; start += c.maxRange) {
    events += await syncRange(c, state, start, Math.min(start + c.maxRange - 1, target));
  }
  return { result: from > target ? { fromBlock: undefined, toBlock: undefined, events: 0 } : { fromBlock: from, toBlock: target, events }, head };
}

/**
 * Read and apply one range to `state`. It must descend from what was read before: the end
 * block's hash is the same before and after the logs are read (nothing in between was
 * replaced), the start block's parent is the last block applied, and every log is of those
 * blocks.
 */
async function syncRange(c: ChainSource, state: IndexState, start: number, end: number): Promise<number> {
  const endBefore = await header(c, end);
  if (endBefore === undefined) throw missingHeader(end);
  const first = start === end ? endBefore : await header(c, start);
  if (first === undefined) throw missingHeader(start);
  // A zero parent hash is no real block's: Hardhat's `hardhat_mine` leaves it on the blocks it
  // reserves. Those ranges are checked by the end hash alone.
  if (state.cursor !== undefined && first.parentHash !== state.cursor.lastBlockHash && first.parentHash !== ZERO_HASH) throw new ReorgDuringSync();
  const logs = await c.reader.logs(start, end);
  const endAfter = await header(c, end);
  if (endAfter === undefined) throw missingHeader(end);
  if (endAfter.hash !== endBefore.hash) throw new ReorgDuringSync();

  const bounds = { start, end, startHash: first.hash, endHash: endBefore.hash };
  const { changes, events } = foldRange(logs, bounds, (key) => state.entries.getByKey(key), c.intern);
  const cursor = { lastBlock: end, lastBlockHash: endBefore.hash };
  // Storage first: if it fails, memory still matches what is stored. A state read aside is
  // stored whole when it is swapped in.
  state.store?.commit(changes, cursor);
  for (const [key, entry] of changes) {
    if (entry === null) state.entries.deleteByKey(key);
    else state.entries.set(entry);
  }
  state.cursor = cursor;
  c.onRange?.({ fromBlock: start, toBlock: end, events });
  return events;
}

const defaultReport = (error: MailserverSdkError) => console.error(`[mailserver-sdk index] ${error.code}: ${error.message}`);

/** Runs a sync now and then on an interval until stopped; errors go to a reporter, never stop it. */
export class SyncLoop {
  readonly #sync: () => Promise<unknown>;
  readonly #running: () => Promise<unknown> | undefined;
  readonly #stopWaitMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started = false;

  /** `sync` starts (or joins) a sync; `running` is the one in progress, if any. */
  constructor(sync: () => Promise<unknown>, running: () => Promise<unknown> | undefined, stopWaitMs: number) {
    this.#sync = sync;
    this.#running = running;
    this.#stopWaitMs = stopWaitMs;
  }

  start(intervalMs: number, onError: (error: MailserverSdkError) => void = defaultReport): void {
    if (this.#started) return;
    this.#started = true;
    const tick = async () => {
      try {
        await this.#sync();
      } catch (error) {
        try {
          onError(error as MailserverSdkError);
        } catch {
          // A failing reporter must not stop the loop.
        }
      }
      if (this.#started) this.#timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
  }

  /** Stop; resolves once a sync in progress has ended, or after `stopWaitMs`, whichever is first. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const running = this.#running();
    if (running === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#stopWaitMs);
    });
    await Promise.race([running.catch(() => undefined), waited]).finally(() => clearTimeout(timer));
  }
}
