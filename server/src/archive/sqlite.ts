// The embedded archive: one SQLite file (WAL), indexed for the store queries. Node's built-in
// `node:sqlite` (Node >= 22.13): no native addon to build against the right Node headers.
import { statfs } from "node:fs/promises";
import path from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { immediateTransaction, openDatabase } from "./nodeSqlite.js";
import { SqliteMaintenance, type CheckpointResult } from "./maintenance.js";
import { DROP_THROUGH_SQL, OLDEST_SQL, oldestCovering, TOTAL_BYTES_SQL, pruneInSlices, sliceStatements, type OldestRow, type RetentionJob, type SliceStatements } from "./retentionSlices.js";
import type { Archive, ArchivedMessage, ArchivePage, ArchiveQuery, ArchiveReader, ArchiveStats, KeyRange, RetentionPolicy } from "./archive.js";
import { ArchiveFullError, readPage } from "./archive.js";

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
-- Every query walks one of these in (time, hash) order: (pubsub, content topic, ...) per content
-- topic, (pubsub, ...) for a whole shard, (time, hash) for no filter; hash lookups use the key.
CREATE INDEX IF NOT EXISTS messages_topic_time ON messages (pubsub_topic, content_topic, timestamp, hash);
CREATE INDEX IF NOT EXISTS messages_pubsub_time ON messages (pubsub_topic, timestamp, hash);
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
  readonly #queries = new Map<string, StatementSync>();
  #open = true;
  readonly #path: string;
  #retention: RetentionPolicy;
  #disk = { at: Number.NEGATIVE_INFINITY, free: 0 };
  /** Checkpoints and prunes off the event loop (none for ":memory:"). */
  readonly #maintenance: SqliteMaintenance | undefined;
  /** Retention's slices on this connection, for when there is no maintenance worker. */
  #slices: SliceStatements | undefined;
  /** The retention run under way: a node prunes every minute, and a run may take longer. */
  #pruning: Promise<number> | undefined;

  /**
   * `file` is a path (created when missing) or ":memory:". `retention` bounds `put` from the start
   * (`prune` replaces it); without it, until the first `prune`, nothing bounds the archive.
   */
  constructor(file: string, options: { retention?: RetentionPolicy } = {}) {
    this.#path = file;
    this.#retention = options.retention ?? { maxAgeSeconds: 0, maxBytes: 0 };
    this.#db = openDatabase(file);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec(SCHEMA);
    if (file !== ":memory:") {
      this.#db.exec("PRAGMA wal_autocheckpoint = 0");
      // A put may find the worker in the middle of a retention slice (a few milliseconds).
      this.#db.exec("PRAGMA busy_timeout = 1000");
      this.#maintenance = new SqliteMaintenance(file, {
        intervalMs: CHECKPOINT_INTERVAL_MS,
        onFailure: () => {
          if (this.#open) this.#db.exec("PRAGMA wal_autocheckpoint = 1000");
        },
      });
    }
    this.#insert = this.#db.prepare(
      "INSERT OR IGNORE INTO messages (hash, pubsub_topic, content_topic, timestamp, received_at, size, message) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
  }

  /** A statement whose integers come back as bigint (timestamps are nanoseconds). */
  #prepare(sql: string): StatementSync {
    const statement = this.#db.prepare(sql);
    statement.setReadBigInts(true);
    return statement;
  }

  async #transaction<T>(work: () => T): Promise<T> {
    const run = () => immediateTransaction(this.#db, work);
    return this.#maintenance?.working ? this.#maintenance.write(run) : run();
  }

  async put(messages: readonly ArchivedMessage[], receivedAtMs = Date.now()): Promise<number> {
    if (this.#retention.minFreeDiskBytes !== undefined && this.#retention.minFreeDiskBytes > 0 && (await this.#diskFree()) < this.#retention.minFreeDiskBytes) {
      throw new ArchiveFullError("disk");
    }
    return this.#transaction(() => {
      if (this.#retention.maxBytes > 0) {
        const incoming = messages.reduce((sum, m) => sum + m.message.length, 0);
        this.#makeRoom(this.#retention, incoming, receivedAtMs);
      }
      let added = 0;
      for (const m of messages) {
        added += Number(this.#insert.run(m.hash, m.pubsubTopic, m.contentTopic, m.timestamp, receivedAtMs, m.message.length, m.message).changes);
      }
      return added;
    });
  }

  /**
   * Drops the oldest messages received before the policy's protected age until `incoming` more
   * bytes fit, or throws ArchiveFullError and drops nothing (the transaction rolls back). Only as
   * much as this put needs, so that the work on the event loop stays bounded by the put's size
   * (it used to leave up to 8 MiB of slack: tens of thousands of rows deleted in one put).
   */
  #makeRoom(policy: RetentionPolicy, incoming: number, nowMs: number): number {
    const excess = Number((this.#statement(TOTAL_BYTES_SQL).get() as { bytes: bigint }).bytes) + incoming - policy.maxBytes;
    if (excess <= 0) return 0;
    const protectedFrom = nowMs - (policy.minAgeSeconds ?? 0) * 1000;
    // The oldest received first, from the index, stopping once enough bytes are covered.
    const cover = oldestCovering(this.#db.prepare(OLDEST_SQL).iterate(protectedFrom) as IterableIterator<OldestRow>, excess);
    if (cover === undefined || cover.covered < excess) throw new ArchiveFullError("size");
    return Number(this.#db.prepare(DROP_THROUGH_SQL).run(cover.last.received_at, cover.last.hash).changes);
  }

  /** Free bytes on the archive's disk; asked at most once a second (statfs), so puts stay cheap. */
  async #diskFree(): Promise<number> {
    if (this.#path === ":memory:") return Number.POSITIVE_INFINITY;
    const now = Date.now();
    if (now - this.#disk.at >= 1000) {
      const stats = await statfs(path.dirname(path.resolve(this.#path)));
      this.#disk = { at: now, free: stats.bavail * stats.bsize };
    }
    return this.#disk.free;
  }

  async query(query: ArchiveQuery): Promise<ArchivePage> {
    return readPage(this.#reader(), query);
  }

  async byHashes(hashes: readonly Uint8Array[]): Promise<ArchivedMessage[]> {
    if (hashes.length === 0) return [];
    return (await readPage(this.#reader(), { contentTopics: [], hashes, forward: true, limit: hashes.length })).messages;
  }

  /** The query plan (`EXPLAIN QUERY PLAN`) of every statement `query` runs, one line per plan step. */
  async explain(query: ArchiveQuery): Promise<string[]> {
    const plans: string[] = [];
    await readPage(this.#reader(plans), query);
    return plans;
  }

  /** Runs a read; with `plans`, records its plan first. */
  #all(sql: string, params: SQLInputValue[], plans?: string[]): Record<string, unknown>[] {
    if (plans !== undefined) {
      const steps = this.#db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      plans.push(...steps.map((step) => step.detail));
    }
    return this.#statement(sql).all(...params) as Record<string, unknown>[];
  }

  readonly #reader = (plans?: string[]): ArchiveReader => ({
    cursorTimestamp: async (hash) => (this.#all("SELECT timestamp FROM messages WHERE hash = ?", [hash], plans)[0] as { timestamp: bigint } | undefined)?.timestamp,
    keys: async (range) => {
      const where: string[] = [];
      const params: SQLInputValue[] = [];
      if (range.pubsubTopic !== undefined) {
        where.push("pubsub_topic = ?");
        params.push(range.pubsubTopic);
      }
      if (range.contentTopic !== undefined) {
        where.push("content_topic = ?");
        params.push(range.contentTopic);
      }
      if (range.timeStart !== undefined) {
        where.push("timestamp >= ?");
        params.push(range.timeStart);
      }
      if (range.timeEnd !== undefined) {
        where.push("timestamp <= ?");
        params.push(range.timeEnd);
      }
      if (range.after !== undefined) {
        where.push(range.forward ? "(timestamp, hash) > (?, ?)" : "(timestamp, hash) < (?, ?)");
        params.push(range.after.timestamp, range.after.hash);
      }
      const rows = this.#all(keysSql(range, where), [...params, range.limit], plans) as unknown as { hash: Uint8Array; timestamp: bigint; size: bigint }[];
      return rows.map((r) => ({ hash: r.hash, timestamp: r.timestamp, size: Number(r.size) }));
    },
    keysOf: async (hashes) => {
      if (hashes.length === 0) return [];
      const rows = this.#all(`SELECT hash, pubsub_topic, content_topic, timestamp, size FROM messages WHERE hash IN (${placeholders(hashes.length)})`, [...hashes], plans) as unknown as { hash: Uint8Array; pubsub_topic: string; content_topic: string; timestamp: bigint; size: bigint }[];
      return rows.map((r) => ({ hash: r.hash, pubsubTopic: r.pubsub_topic, contentTopic: r.content_topic, timestamp: r.timestamp, size: Number(r.size) }));
    },
    bodies: async (hashes) => {
      if (hashes.length === 0) return [];
      const rows = this.#all(`SELECT hash, pubsub_topic, content_topic, timestamp, message FROM messages WHERE hash IN (${placeholders(hashes.length)})`, [...hashes], plans) as unknown as Row[];
      return rows.map(toMessage);
    },
  });

  /** Prepared once per shape: shapes vary only by which filters are present and how many hashes. */
  #statement(sql: string): StatementSync {
    let statement = this.#queries.get(sql);
    if (statement === undefined) {
      statement = this.#prepare(sql);
      if (this.#queries.size < 512) this.#queries.set(sql, statement);
    }
    return statement;
  }

  async stats(): Promise<ArchiveStats> {
    const row = this.#db.prepare("SELECT messages, bytes FROM totals WHERE id = 1").get() as { messages: number; bytes: number };
    return { messages: row.messages, bytes: row.bytes };
  }

  /**
   * Drops what the policy says has expired, then the oldest (older than its protected age) until
   * the archive is within its size bound. In slices of a
   * few milliseconds, on the maintenance worker (or, in memory, with the event loop turning between
   * slices). A call while a run is under way joins that run.
   */
  prune(policy: RetentionPolicy, nowMs = Date.now()): Promise<number> {
    this.#retention = policy;
    if (this.#pruning !== undefined) return this.#pruning;
    const job: RetentionJob = {
      ...(policy.maxAgeSeconds > 0 ? { expiredBefore: nowMs - policy.maxAgeSeconds * 1000 } : {}),
      ...(policy.maxBytes > 0 ? { size: { targetBytes: policy.maxBytes, protectedFrom: nowMs - (policy.minAgeSeconds ?? 0) * 1000 } } : {}),
    };
    const run = (async () => {
      try {
        // Over the bound with only protected messages (`full`): puts are refused until they age.
        if (this.#maintenance?.working) return (await this.#maintenance.prune(job)).dropped;
        this.#slices ??= sliceStatements(this.#db);
        return (
          await pruneInSlices(this.#slices, job, {
            transaction: (work) => immediateTransaction(this.#db, work),
            between: async () => {
              await new Promise((resolve) => setImmediate(resolve));
              return this.#open;
            },
          })
        ).dropped;
      } finally {
        this.#pruning = undefined;
      }
    })();
    this.#pruning = run;
    return run;
  }

  /** Checkpoints the WAL now, on the maintenance thread (it also does so every second). */
  async checkpoint(): Promise<CheckpointResult | undefined> {
    return this.#maintenance?.checkpoint();
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    await this.#maintenance?.close();
    this.#db.close();
  }
}

/** How often the WAL is checkpointed; it holds at most about this long of writes. */
const CHECKPOINT_INTERVAL_MS = 1_000;

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

/**
 * The index each range walks, named: the planner must not pick one that needs a sort (a
 * pubsub-topic-only query walking the content-topic index would sort the whole shard).
 */
function keysSql(range: KeyRange, where: string[]): string {
  const index = range.contentTopic !== undefined ? "messages_topic_time" : range.pubsubTopic !== undefined ? "messages_pubsub_time" : "messages_time";
  const order = range.forward ? "ASC" : "DESC";
  return (
    `SELECT hash, timestamp, size FROM messages INDEXED BY ${index}` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY timestamp ${order}, hash ${order} LIMIT ?`
  );
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
