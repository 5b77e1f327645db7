// The embedded archive: one SQLite file (WAL), indexed for the store queries. Node's built-in
// `node:sqlite` (Node >= 22.13): no native addon to build against the right Node headers.
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { openDatabase } from "./nodeSqlite.js";
import type { Archive, ArchivedMessage, ArchivePage, ArchiveQuery, ArchiveStats, RetentionPolicy } from "./archive.js";
import { UnknownCursorError } from "./archive.js";

type Row = { hash: Uint8Array; pubsub_topic: string; content_topic: string; timestamp: bigint; message: Uint8Array };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  hash          BLOB    PRIMARY KEY,
  pubsub_topic  TEXT    NOT NULL,
  content_topic TEXT    NOT NULL,
  timestamp     INTEGER NOT NULL,
  received_at   INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  message       BLOB    NOT NULL
) WITHOUT ROWID;
-- Content-filtered queries walk (pubsub, content topic, time, hash); hash lookups use the key.
CREATE INDEX IF NOT EXISTS messages_topic_time ON messages (pubsub_topic, content_topic, timestamp, hash);
CREATE INDEX IF NOT EXISTS messages_time ON messages (timestamp, hash);
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_at, hash);
-- Running totals, so that size retention needs no full scan.
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 1), messages INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals (id, messages, bytes) VALUES (1, 0, 0);
CREATE TRIGGER IF NOT EXISTS messages_added AFTER INSERT ON messages BEGIN
  UPDATE totals SET messages = messages + 1, bytes = bytes + NEW.size WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS messages_removed AFTER DELETE ON messages BEGIN
  UPDATE totals SET messages = messages - 1, bytes = bytes - OLD.size WHERE id = 1;
END;
`;

export class SqliteArchive implements Archive {
  readonly kind = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #cursor: StatementSync;
  readonly #queries = new Map<string, StatementSync>();
  #open = true;

  /** `path` is a file (created when missing) or ":memory:". */
  constructor(path: string) {
    this.#db = openDatabase(path);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec(SCHEMA);
    this.#insert = this.#db.prepare(
      "INSERT OR IGNORE INTO messages (hash, pubsub_topic, content_topic, timestamp, received_at, size, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#cursor = this.#prepare("SELECT timestamp FROM messages WHERE hash = ?");
  }

  /** A statement whose integers come back as bigint (timestamps are nanoseconds). */
  #prepare(sql: string): StatementSync {
    const statement = this.#db.prepare(sql);
    statement.setReadBigInts(true);
    return statement;
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  async put(messages: readonly ArchivedMessage[], receivedAtMs = Date.now()): Promise<number> {
    return this.#transaction(() => {
      let added = 0;
      for (const m of messages) {
        added += Number(this.#insert.run(m.hash, m.pubsubTopic, m.contentTopic, m.timestamp, receivedAtMs, m.message.length, m.message).changes);
      }
      return added;
    });
  }

  async query(query: ArchiveQuery): Promise<ArchivePage> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (query.pubsubTopic !== undefined) {
      where.push("pubsub_topic = ?");
      params.push(query.pubsubTopic);
    }
    if (query.contentTopics.length > 0) {
      where.push(`content_topic IN (${query.contentTopics.map(() => "?").join(", ")})`);
      params.push(...query.contentTopics);
    }
    if (query.timeStart !== undefined) {
      where.push("timestamp >= ?");
      params.push(query.timeStart);
    }
    if (query.timeEnd !== undefined) {
      where.push("timestamp <= ?");
      params.push(query.timeEnd);
    }
    if (query.cursor !== undefined) {
      const found = this.#cursor.get(query.cursor) as { timestamp: bigint } | undefined;
      if (found === undefined) throw new UnknownCursorError();
      where.push(query.forward ? "(timestamp, hash) > (?, ?)" : "(timestamp, hash) < (?, ?)");
      params.push(found.timestamp, query.cursor);
    }
    const order = query.forward ? "ASC" : "DESC";
    const sql =
      "SELECT hash, pubsub_topic, content_topic, timestamp, message FROM messages" +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      ` ORDER BY timestamp ${order}, hash ${order} LIMIT ?`;
    let statement = this.#queries.get(sql);
    if (statement === undefined) {
      statement = this.#prepare(sql);
      // Bounded: the shapes vary only by which filters are present and the number of topics.
      if (this.#queries.size < 512) this.#queries.set(sql, statement);
    }
    const rows = statement.all(...params, query.limit + 1) as unknown as Row[];
    const more = rows.length > query.limit;
    const page = rows.slice(0, query.limit).map(toMessage);
    if (!query.forward) page.reverse();
    return { messages: page, more };
  }

  async byHashes(hashes: readonly Uint8Array[]): Promise<ArchivedMessage[]> {
    if (hashes.length === 0) return [];
    const rows = this.#prepare(
      `SELECT hash, pubsub_topic, content_topic, timestamp, message FROM messages WHERE hash IN (${hashes.map(() => "?").join(", ")}) ORDER BY timestamp, hash`,
    ).all(...hashes) as unknown as Row[];
    return rows.map(toMessage);
  }

  async stats(): Promise<ArchiveStats> {
    const row = this.#db.prepare("SELECT messages, bytes FROM totals WHERE id = 1").get() as { messages: number; bytes: number };
    return { messages: row.messages, bytes: row.bytes };
  }

  async prune(policy: RetentionPolicy, nowMs = Date.now()): Promise<number> {
    let dropped = 0;
    if (policy.maxAgeSeconds > 0) {
      dropped += Number(this.#db.prepare("DELETE FROM messages WHERE received_at < ?").run(nowMs - policy.maxAgeSeconds * 1000).changes);
    }
    if (policy.maxBytes > 0) {
      const { bytes } = await this.stats();
      let excess = bytes - policy.maxBytes;
      if (excess > 0) {
        // Walk the oldest first and cut once enough bytes are covered.
        const oldest = this.#db.prepare("SELECT received_at, hash, size FROM messages ORDER BY received_at, hash").iterate() as IterableIterator<{
          received_at: number;
          hash: Uint8Array;
          size: number;
        }>;
        let last: { received_at: number; hash: Uint8Array } | undefined;
        for (const row of oldest) {
          last = row;
          excess -= row.size;
          if (excess <= 0) break;
        }
        if (last !== undefined) {
          dropped += Number(this.#db.prepare("DELETE FROM messages WHERE (received_at, hash) <= (?, ?)").run(last.received_at, last.hash).changes);
        }
      }
    }
    return dropped;
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#db.close();
  }
}

function toMessage(row: Row): ArchivedMessage {
  return {
    hash: new Uint8Array(row.hash),
    pubsubTopic: row.pubsub_topic,
    contentTopic: row.content_topic,
    timestamp: BigInt(row.timestamp),
    message: new Uint8Array(row.message),
  };
}
