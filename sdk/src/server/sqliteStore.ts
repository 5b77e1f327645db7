// Node-only: SQLite through Node's built-in `node:sqlite` (Node >= 22.13), no native addon.
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MailserverSdkError } from "../errors.js";
import type { IndexCursor, IndexMeta, IndexStore, StoredEntry, StoredIndex } from "./indexStore.js";

const SCHEMA_VERSION = "1";

/**
 * The index in one SQLite file, WAL mode (readers in other processes do not block the writer).
 * Entries are rows keyed by (node, client); the cursor and what the index covers (chain,
 * escrow, start block, node filter) are rows of `meta`. Every write is one transaction.
 */
export class SqliteIndexStore implements IndexStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  readonly #setMeta: StatementSync;

  constructor(path: string) {
    this.path = path;
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec("PRAGMA journal_mode = WAL");
      // FULL: a committed range survives a power cut too, not only a killed process.
      this.#db.exec("PRAGMA synchronous = FULL");
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS entries (
          node_id TEXT NOT NULL, client_id TEXT NOT NULL, owner TEXT NOT NULL, expires_at TEXT NOT NULL,
          PRIMARY KEY (node_id, client_id)
        ) WITHOUT ROWID;`);
      this.#upsert = this.#db.prepare("INSERT INTO entries (node_id, client_id, owner, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (node_id, client_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at");
      this.#delete = this.#db.prepare("DELETE FROM entries WHERE node_id = ? AND client_id = ?");
      this.#setMeta = this.#db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    } catch (error) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `cannot open index database ${path}: ${(error as Error).message}`, { cause: error, details: { path } });
    }
  }

  /** Run `work` in one transaction (node:sqlite has no transaction helper). */
  #transaction(work: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      work();
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  load(): StoredIndex | undefined {
    const rows = this.#db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[];
    if (rows.length === 0) return undefined;
    const meta = new Map(rows.map((r) => [r.key, r.value]));
    if (meta.get("schema") !== SCHEMA_VERSION) throw this.#invalid(`unsupported index schema ${meta.get("schema")}`);
    let index: IndexMeta;
    let cursor: IndexCursor | null;
    try {
      index = JSON.parse(meta.get("index") ?? "null") as IndexMeta;
      cursor = JSON.parse(meta.get("cursor") ?? "null") as IndexCursor | null;
    } catch (error) {
      throw this.#invalid("index metadata is not JSON", error);
    }
    if (typeof index?.chainId !== "string" || typeof index.escrow !== "string" || !Number.isSafeInteger(index.startBlock)) throw this.#invalid("index metadata is incomplete");
    if (cursor !== null && (!Number.isSafeInteger(cursor.lastBlock) || typeof cursor.lastBlockHash !== "string")) throw this.#invalid("index cursor is malformed");
    const entries: StoredEntry[] = [];
    const rowsOf = this.#db.prepare("SELECT node_id, client_id, owner, expires_at FROM entries").iterate() as Iterable<{ node_id: string; client_id: string; owner: string; expires_at: string }>;
    for (const row of rowsOf) {
      entries.push({ nodeId: row.node_id, clientId: row.client_id, owner: row.owner, expiresAt: BigInt(row.expires_at) });
    }
    const syncedAt = Number(meta.get("syncedAt"));
    return Number.isSafeInteger(syncedAt) && syncedAt > 0 ? { meta: index, cursor, entries, syncedAt } : { meta: index, cursor, entries };
  }

  commit(changes: ReadonlyMap<string, StoredEntry | null>, cursor: IndexCursor): void {
    this.#transaction(() => {
      for (const [key, entry] of changes) {
        if (entry === null) {
          const bar = key.indexOf("|");
          this.#delete.run(key.slice(0, bar), key.slice(bar + 1));
        } else {
          this.#upsert.run(entry.nodeId, entry.clientId, entry.owner, entry.expiresAt.toString());
        }
      }
      this.#setMeta.run("cursor", JSON.stringify(cursor));
    });
  }

  markSynced(at: number): void {
    this.#setMeta.run("syncedAt", String(at));
  }

  reset(meta: IndexMeta): void {
    this.#transaction(() => this.#resetRows(meta));
  }

  replace(meta: IndexMeta, entries: Iterable<StoredEntry>, cursor: IndexCursor | null): void {
    this.#transaction(() => {
      this.#resetRows(meta);
      for (const entry of entries) this.#upsert.run(entry.nodeId, entry.clientId, entry.owner, entry.expiresAt.toString());
      if (cursor !== null) this.#setMeta.run("cursor", JSON.stringify(cursor));
    });
  }

  #resetRows(meta: IndexMeta): void {
    this.#db.exec("DELETE FROM entries; DELETE FROM meta;");
    this.#setMeta.run("schema", SCHEMA_VERSION);
    this.#setMeta.run("index", JSON.stringify(meta));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #invalid(message: string, cause?: unknown): MailserverSdkError {
    return new MailserverSdkError("INVALID_ARGUMENT", `index database ${this.path}: ${message}`, { cause, details: { path: this.path } });
  }
}
