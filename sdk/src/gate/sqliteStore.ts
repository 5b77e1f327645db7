// Node-only: SQLite through the native better-sqlite3 module.
import Database from "better-sqlite3";
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
  readonly #db: Database.Database;
  readonly #upsert: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #commit: (changes: ReadonlyMap<string, StoredEntry | null>, cursor: IndexCursor) => void;
  readonly #reset: (meta: IndexMeta) => void;

  constructor(path: string) {
    this.path = path;
    try {
      this.#db = new Database(path);
      this.#db.pragma("journal_mode = WAL");
      // FULL: a committed range survives a power cut too, not only a killed process.
      this.#db.pragma("synchronous = FULL");
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS entries (
          node_id TEXT NOT NULL, client_id TEXT NOT NULL, owner TEXT NOT NULL, expires_at TEXT NOT NULL,
          PRIMARY KEY (node_id, client_id)
        ) WITHOUT ROWID;`);
    } catch (error) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `cannot open index database ${path}: ${(error as Error).message}`, { cause: error, details: { path } });
    }
    this.#upsert = this.#db.prepare("INSERT INTO entries (node_id, client_id, owner, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (node_id, client_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at");
    this.#delete = this.#db.prepare("DELETE FROM entries WHERE node_id = ? AND client_id = ?");
    this.#setMeta = this.#db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.#commit = this.#db.transaction((changes: ReadonlyMap<string, StoredEntry | null>, cursor: IndexCursor) => {
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
    this.#reset = this.#db.transaction((meta: IndexMeta) => {
      this.#db.exec("DELETE FROM entries; DELETE FROM meta;");
      this.#setMeta.run("schema", SCHEMA_VERSION);
      this.#setMeta.run("index", JSON.stringify(meta));
    });
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
    for (const row of this.#db.prepare("SELECT node_id, client_id, owner, expires_at FROM entries").raw().iterate() as IterableIterator<[string, string, string, string]>) {
      entries.push({ nodeId: row[0], clientId: row[1], owner: row[2], expiresAt: BigInt(row[3]) });
    }
    return { meta: index, cursor, entries };
  }

  commit(changes: ReadonlyMap<string, StoredEntry | null>, cursor: IndexCursor): void {
    this.#commit(changes, cursor);
  }

  reset(meta: IndexMeta): void {
    this.#reset(meta);
  }

  close(): void {
    this.#db.close();
  }

  #invalid(message: string, cause?: unknown): MailserverSdkError {
    return new MailserverSdkError("INVALID_ARGUMENT", `index database ${this.path}: ${message}`, { cause, details: { path: this.path } });
  }
}
