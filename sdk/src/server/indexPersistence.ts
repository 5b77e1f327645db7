// The index's persistence: its identity (chain, escrow, start block, node filter), the JSON
// snapshot (`save`/`load`) and the SQLite store (`open`). What is restored is checked here;
// the index only takes the result.
import { getAddress } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";
import { checkAddress } from "../core/args.js";
import { EntryMap, type IndexCursor, type IndexMeta, type IndexStore } from "./indexStore.js";

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

/** What a snapshot or a store gave back: the entries, the cursor and when they were last known current. */
export interface RestoredIndex {
  entries: EntryMap;
  cursor: IndexCursor | undefined;
  lastGoodAt: number | undefined;
}

/** The sorted, de-duplicated node filter, or null for all nodes. */
export const nodeFilterOf = (nodeIds: readonly string[] | undefined) => (nodeIds === undefined ? null : [...new Set(nodeIds.map(normalizeNodeId))].sort());
const sameFilter = (a: string[] | null, b: string[] | null) => (a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => x === b[i]));

/** WRONG_CHAIN or INVALID_ARGUMENT unless a stored index is of this chain and escrow. */
function checkIdentity(meta: IndexMeta, chainId: string, escrow: string): void {
  let chain: bigint;
  try {
    chain = BigInt(chainId);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `index of an unreadable chain id ${chainId}`, { cause: error });
  }
  if (chain !== BigInt(meta.chainId)) {
    throw new MailserverSdkError("WRONG_CHAIN", `index is of chain ${chainId}, expected ${meta.chainId}`, { details: { expected: BigInt(meta.chainId), actual: chain } });
  }
  if (typeof escrow !== "string" || escrow.toLowerCase() !== meta.escrow.toLowerCase()) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "index is of another escrow", { details: { expected: meta.escrow, actual: escrow } });
  }
}

/**
 * What a store holds for an index of `meta`, or undefined when it is new or covers other blocks
 * or nodes (then it is reset to `meta`). A store of another chain or escrow is refused.
 */
export function restoreFromStore(store: IndexStore, meta: IndexMeta, intern: (nodeId: string) => string): RestoredIndex | undefined {
  const stored = store.load();
  if (stored !== undefined) checkIdentity(meta, stored.meta.chainId, stored.meta.escrow);
  if (stored === undefined || stored.meta.startBlock !== meta.startBlock || !sameFilter(stored.meta.nodeFilter, meta.nodeFilter)) {
    // New, or it covers other blocks or nodes: what it holds cannot be continued.
    store.reset(meta);
    return undefined;
  }
  const cursor = stored.cursor ?? undefined;
  const entries = new EntryMap();
  for (const entry of stored.entries) {
    entry.nodeId = intern(entry.nodeId);
    entries.set(entry);
  }
  return { entries, cursor, lastGoodAt: stored.syncedAt !== undefined && cursor !== undefined ? stored.syncedAt : undefined };
}

/**
 * What a snapshot holds for an index of `meta`: undefined when it is of another start block or
 * node filter, or of version 1 (re-read). Another chain or escrow, or a malformed snapshot, is
 * an error.
 */
export function restoreFromSnapshot(snapshot: IndexSnapshot, meta: IndexMeta, intern: (nodeId: string) => string): RestoredIndex | undefined {
  const bad = (message: string, cause?: unknown) => new MailserverSdkError("INVALID_ARGUMENT", `index snapshot: ${message}`, { cause });
  if (typeof snapshot !== "object" || snapshot === null) throw bad("not an object");
  if (snapshot.version !== 1 && snapshot.version !== 2) throw new MailserverSdkError("INVALID_ARGUMENT", "unsupported index snapshot version", { details: { version: snapshot.version } });
  checkIdentity(meta, snapshot.chainId, snapshot.escrow);
  // Version 1 did not record which nodes it covered: nothing in it can be trusted to be complete.
  if (snapshot.version === 1) return undefined;
  let filter: string[] | null;
  try {
    filter = snapshot.nodeIds === null ? null : nodeFilterOf(snapshot.nodeIds);
  } catch (error) {
    throw bad("nodeIds is not a list of node ids", error);
  }
  if (snapshot.startBlock !== meta.startBlock || !sameFilter(filter, meta.nodeFilter) || snapshot.lastBlock === null) return undefined;
  if (!Number.isSafeInteger(snapshot.lastBlock) || typeof snapshot.lastBlockHash !== "string" || !Array.isArray(snapshot.entries)) throw bad("lastBlock, lastBlockHash or entries malformed");
  const entries = new EntryMap();
  for (const e of snapshot.entries) {
    try {
      entries.set({ nodeId: intern(normalizeNodeId(e.nodeId)), clientId: checkAddress(e.clientId, "clientId").toLowerCase(), owner: checkAddress(e.owner, "owner").toLowerCase(), expiresAt: BigInt(e.expiresAt) });
    } catch (error) {
      throw bad(`malformed entry ${JSON.stringify(e)}`, error);
    }
  }
  return { entries, cursor: { lastBlock: snapshot.lastBlock, lastBlockHash: snapshot.lastBlockHash }, lastGoodAt: Number.isSafeInteger(snapshot.syncedAt) ? snapshot.syncedAt : undefined };
}

/** The JSON export of an index's state. */
export function snapshotOf(meta: IndexMeta, state: RestoredIndex): IndexSnapshot {
  return {
    version: 2,
    chainId: meta.chainId,
    escrow: meta.escrow,
    startBlock: meta.startBlock,
    nodeIds: meta.nodeFilter,
    lastBlock: state.cursor?.lastBlock ?? null,
    lastBlockHash: state.cursor?.lastBlockHash ?? null,
    entries: [...state.entries.values()].map((e) => ({ nodeId: e.nodeId, clientId: getAddress(e.clientId), owner: getAddress(e.owner), expiresAt: e.expiresAt.toString() })),
    ...(state.lastGoodAt === undefined ? {} : { syncedAt: state.lastGoodAt }),
  };
}

/** The snapshot in a JSON file written by `writeSnapshot`, or undefined when there is no file. */
export async function readSnapshot(path: string): Promise<IndexSnapshot | undefined> {
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new MailserverSdkError("INVALID_ARGUMENT", `cannot read index file ${path}`, { cause: error });
  }
  try {
    return JSON.parse(text) as IndexSnapshot;
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `index file ${path} is not JSON`, { cause: error });
  }
}

/** Write a snapshot to a file atomically: a crash mid-write leaves the previous file. */
export async function writeSnapshot(path: string, snapshot: IndexSnapshot): Promise<void> {
  const { writeFile, rename } = await import("node:fs/promises");
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, JSON.stringify(snapshot, null, 1));
    await rename(temporary, path);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `cannot write index file ${path}`, { cause: error });
  }
}

/** The SQLite store at `path` (Node >= 22.13's built-in `node:sqlite`; INVALID_ARGUMENT elsewhere). */
export async function openSqliteStore(path: string): Promise<IndexStore> {
  let sqlite: typeof import("./sqliteStore.js");
  try {
    sqlite = await importQuietly(() => import("./sqliteStore.js"));
  } catch (error) {
    // node:sqlite is built into Node >= 22.13; older Nodes (and browsers) do not have it.
    throw new MailserverSdkError("INVALID_ARGUMENT", "SubscriptionIndex.open needs Node.js >= 22.13 (its built-in node:sqlite)", { cause: error, details: { missing: "node:sqlite" } });
  }
  return new sqlite.SqliteIndexStore(path);
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
