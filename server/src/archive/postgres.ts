// The shared archive: PostgreSQL, for a provider running several store nodes on one archive (as
// Status's fleet does with nwaku). Same schema and queries as the SQLite backend.
import pg from "pg";
import type { Archive, ArchivedMessage, ArchivePage, ArchiveQuery, ArchiveReader, ArchiveStats, RetentionPolicy } from "./archive.js";
import { ArchiveFullError, readPage } from "./archive.js";

type Row = { hash: Buffer; pubsub_topic: string; content_topic: string; timestamp: string; message: Buffer };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  hash          BYTEA   PRIMARY KEY,
  pubsub_topic  TEXT    NOT NULL,
  content_topic TEXT    NOT NULL,
  timestamp     BIGINT  NOT NULL,
  received_at   BIGINT  NOT NULL,
  size          INTEGER NOT NULL,
  message       BYTEA   NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_topic_time ON messages (pubsub_topic, content_topic, timestamp, hash);
CREATE INDEX IF NOT EXISTS messages_pubsub_time ON messages (pubsub_topic, timestamp, hash);
CREATE INDEX IF NOT EXISTS messages_time ON messages (timestamp, hash);
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_at, hash);
-- Running totals, kept per statement (one row update per batch, not per message), so that size
-- retention and the metrics read two numbers instead of counting the table.
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 1), messages BIGINT NOT NULL, bytes BIGINT NOT NULL);
CREATE OR REPLACE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE totals SET messages = messages + (SELECT count(*) FROM added), bytes = bytes + (SELECT coalesce(sum(size), 0) FROM added) WHERE id = 1;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE totals SET messages = messages - (SELECT count(*) FROM removed), bytes = bytes - (SELECT coalesce(sum(size), 0) FROM removed) WHERE id = 1;
  RETURN NULL;
END $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'messages_added') THEN
    CREATE TRIGGER messages_added AFTER INSERT ON messages REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messages_added();
    CREATE TRIGGER messages_removed AFTER DELETE ON messages REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messages_removed();
  END IF;
END $$;
-- An archive made before the totals existed is counted once, in the same transaction as the
-- triggers are made (a concurrent insert waits for it), so that nothing is counted twice or lost.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM totals) THEN
    INSERT INTO totals (id, messages, bytes) SELECT 1, count(*), coalesce(sum(size), 0) FROM messages;
  END IF;
END $$;
`;
/** Serializes schema creation between nodes starting at once on one database. */
const SCHEMA_LOCK = 0x6d61696c;

/** Creating the schema, and counting an archive made before the totals once, ms. */
const SCHEMA_TIMEOUT_MS = 10 * 60_000;
/** Rows one retention statement deletes: each is one short statement within the deadline. */
const PRUNE_SLICE = 10_000;
/** Oldest messages one size-retention statement sums up. */
const PRUNE_CUT_ROWS = 50_000;

/** How long one database call may take by default, ms (waiting for a connection, and its statements). */
export const DEFAULT_PG_TIMEOUT_MS = 5_000;

export interface PostgresOptions {
  maxConnections?: number;
  /**
   * Deadline of every database call, ms: waiting for a pooled connection, connecting, and each
   * statement (the server cancels it, `statement_timeout`; the client gives up on a server that
   * does not answer at all, `query_timeout`, and drops that connection). Default 5 s.
   */
  timeoutMs?: number;
}

export class PostgresArchive implements Archive {
  readonly kind = "postgres" as const;
  readonly #pool: pg.Pool;
  #retention: RetentionPolicy = { maxAgeSeconds: 0, maxBytes: 0 };
  /** The last prune found the archive over its size bound with nothing old enough to drop. */
  #full = false;

  readonly #timeoutMs: number;

  private constructor(pool: pg.Pool, timeoutMs: number) {
    this.#pool = pool;
    this.#timeoutMs = timeoutMs;
  }

  /** Connects and creates the schema when missing. */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresArchive> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_PG_TIMEOUT_MS;
    // Every read here has an index that gives its order (see readPage), so a sort is never wanted:
    // a planner that misjudges a range's size would sort a whole shard. With sorts off it sorts only
    // where no index could serve, which the plan test shows never happens.
    // A database that hangs must not hold the handlers: every statement, connection and wait for a
    // pooled connection has the deadline; a transaction whose client went away ends on the server too.
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 8,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      options: `-c enable_sort=off -c statement_timeout=${timeoutMs} -c idle_in_transaction_session_timeout=${timeoutMs}`,
      application_name: "mailserver-archive",
    });
    // An idle client that loses its server must not crash the process.
    pool.on("error", () => undefined);
    const client = await pool.connect().catch(async (error: unknown) => {
      await pool.end().catch(() => undefined);
      throw error;
    });
    try {
      // Creating the schema (and counting an old archive once) may take longer than one call.
      await client.query("SET statement_timeout = 0");
      await client.query("SELECT pg_advisory_lock($1)", [SCHEMA_LOCK]);
      await client.query({ text: SCHEMA, query_timeout: SCHEMA_TIMEOUT_MS } as pg.QueryConfig);
      await client.query("SELECT pg_advisory_unlock($1)", [SCHEMA_LOCK]);
      await client.query("RESET statement_timeout");
      client.release();
    } catch (error) {
      client.release(error as Error);
      await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresArchive(pool, timeoutMs);
  }

  /**
   * The size bound is checked by `prune` (every minute on a node): between two runs the archive may
   * grow by what arrives meanwhile; once a run finds it full of protected messages, puts are refused.
   * (Its disk is the database server's: PostgreSQL refuses writes itself when it is full.)
   */
  async put(messages: readonly ArchivedMessage[], receivedAtMs = Date.now()): Promise<number> {
    if (messages.length === 0) return 0;
    if (this.#full && this.#retention.maxBytes > 0) throw new ArchiveFullError("size");
    const values: unknown[] = [];
    const rows = messages.map((m, i) => {
      values.push(Buffer.from(m.hash), m.pubsubTopic, m.contentTopic, m.timestamp.toString(), receivedAtMs, m.message.length, Buffer.from(m.message));
      const b = i * 7;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`;
    });
    const insert = `INSERT INTO messages (hash, pubsub_topic, content_topic, timestamp, received_at, size, message) VALUES ${rows.join(", ")} ON CONFLICT (hash) DO NOTHING`;
    // In a transaction whose COMMIT is sent only within the deadline: a put that failed (and whose
    // callers were told so) is rolled back, also on a server that hung and wakes up later, since
    // the connection it would answer on is gone. Only a COMMIT sent in time whose answer is lost
    // leaves a message archived that its pusher was told failed: a retry is then a duplicate, dropped by hash.
    const deadline = performance.now() + this.#timeoutMs;
    const client = await this.#pool.connect();
    const left = () => {
      const ms = Math.floor(deadline - performance.now());
      if (ms <= 0) throw new Error(`archive write timed out after ${this.#timeoutMs} ms`);
      return ms;
    };
    try {
      await client.query({ text: "BEGIN", query_timeout: left() } as pg.QueryConfig);
      const result = await client.query({ text: insert, values, query_timeout: left() } as pg.QueryConfig);
      await client.query({ text: "COMMIT", query_timeout: left() } as pg.QueryConfig);
      client.release();
      return result.rowCount ?? 0;
    } catch (error) {
      // Dropped, not returned to the pool: the connection may still be inside the transaction, or be waiting on a hung server.
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  async query(query: ArchiveQuery): Promise<ArchivePage> {
    return readPage(this.#reader(), query);
  }

  async byHashes(hashes: readonly Uint8Array[]): Promise<ArchivedMessage[]> {
    if (hashes.length === 0) return [];
    return (await readPage(this.#reader(), { contentTopics: [], hashes, forward: true, limit: hashes.length })).messages;
  }

  /** The plan (`EXPLAIN`) of every statement `query` runs, one line per plan node. */
  async explain(query: ArchiveQuery): Promise<string[]> {
    const plans: string[] = [];
    await readPage(this.#reader(plans), query);
    return plans;
  }

  /** Runs a read; with `plans`, records its plan first. */
  async #all<R extends pg.QueryResultRow>(sql: string, params: unknown[], plans?: string[]): Promise<R[]> {
    if (plans !== undefined) {
      const steps = await this.#pool.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params);
      plans.push(...steps.rows.map((step) => step["QUERY PLAN"]));
    }
    return (await this.#pool.query<R>(sql, params)).rows;
  }

  readonly #reader = (plans?: string[]): ArchiveReader => ({
    cursorTimestamp: async (hash) => {
      const found = await this.#all<{ timestamp: string }>("SELECT timestamp FROM messages WHERE hash = $1", [Buffer.from(hash)], plans);
      return found.length === 0 ? undefined : BigInt(found[0]!.timestamp);
    },
    keys: async (range) => {
      const where: string[] = [];
      const params: unknown[] = [];
      const param = (value: unknown) => {
        params.push(value);
        return `$${params.length}`;
      };
      if (range.pubsubTopic !== undefined) where.push(`pubsub_topic = ${param(range.pubsubTopic)}`);
      if (range.contentTopic !== undefined) where.push(`content_topic = ${param(range.contentTopic)}`);
      if (range.timeStart !== undefined) where.push(`timestamp >= ${param(range.timeStart.toString())}`);
      if (range.timeEnd !== undefined) where.push(`timestamp <= ${param(range.timeEnd.toString())}`);
      if (range.after !== undefined) {
        where.push(`(timestamp, hash) ${range.forward ? ">" : "<"} (${param(range.after.timestamp.toString())}, ${param(Buffer.from(range.after.hash))})`);
      }
      const order = range.forward ? "ASC" : "DESC";
      const rows = await this.#all<{ hash: Buffer; timestamp: string; size: number }>(
        "SELECT hash, timestamp, size FROM messages" +
          (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
          ` ORDER BY timestamp ${order}, hash ${order} LIMIT ${param(range.limit)}`,
        params,
        plans,
      );
      return rows.map((r) => ({ hash: new Uint8Array(r.hash), timestamp: BigInt(r.timestamp), size: r.size }));
    },
    keysOf: async (hashes) => {
      if (hashes.length === 0) return [];
      const rows = await this.#all<{ hash: Buffer; pubsub_topic: string; content_topic: string; timestamp: string; size: number }>(
        "SELECT hash, pubsub_topic, content_topic, timestamp, size FROM messages WHERE hash = ANY($1)",
        [hashes.map((h) => Buffer.from(h))],
        plans,
      );
      return rows.map((r) => ({ hash: new Uint8Array(r.hash), pubsubTopic: r.pubsub_topic, contentTopic: r.content_topic, timestamp: BigInt(r.timestamp), size: r.size }));
    },
    bodies: async (hashes) => {
      if (hashes.length === 0) return [];
      const rows = await this.#all<Row>("SELECT hash, pubsub_topic, content_topic, timestamp, message FROM messages WHERE hash = ANY($1)", [hashes.map((h) => Buffer.from(h))], plans);
      return rows.map(toMessage);
    },
  });

  async stats(): Promise<ArchiveStats> {
    const result = await this.#pool.query<{ messages: string; bytes: string }>("SELECT messages, bytes FROM totals WHERE id = 1");
    return { messages: Number(result.rows[0]!.messages), bytes: Number(result.rows[0]!.bytes) };
  }

  async prune(policy: RetentionPolicy, nowMs = Date.now()): Promise<number> {
    this.#retention = policy;
    let dropped = 0;
    if (policy.maxAgeSeconds > 0) dropped += await this.#deleteSlices("received_at < $1", [nowMs - policy.maxAgeSeconds * 1000]);
    this.#full = false;
    if (policy.maxBytes > 0) {
      const protectedSince = nowMs - (policy.minAgeSeconds ?? 0) * 1000;
      // The oldest droppable messages (received before the protected age) are walked in windows
      // of PRUNE_CUT_ROWS, so that each statement stays within the deadline however large the excess.
      const oldest = `SELECT received_at, hash, size FROM messages WHERE received_at < $2 ORDER BY received_at, hash LIMIT ${PRUNE_CUT_ROWS}`;
      for (;;) {
        const excess = (await this.stats()).bytes - policy.maxBytes;
        if (excess <= 0) break;
        // The newest message of the window at which the running sum of sizes covers the excess: cut there.
        const cut = await this.#pool.query<{ received_at: string; hash: Buffer }>(
          `SELECT received_at, hash FROM (SELECT received_at, hash, sum(size) OVER (ORDER BY received_at, hash) AS running FROM (${oldest}) w) oldest
           WHERE running >= $1 ORDER BY received_at, hash LIMIT 1`,
          [excess, protectedSince],
        );
        if (cut.rows[0] !== undefined) {
          dropped += await this.#deleteSlices("(received_at, hash) <= ($1, $2)", [cut.rows[0].received_at, cut.rows[0].hash]);
          break;
        }
        // The whole window is less than the excess: drop it and go on, if it was full.
        const last = await this.#pool.query<{ received_at: string; hash: Buffer }>(
          `SELECT received_at, hash FROM messages WHERE received_at < $1 ORDER BY received_at, hash OFFSET ${PRUNE_CUT_ROWS - 1} LIMIT 1`,
          [protectedSince],
        );
        if (last.rows[0] !== undefined) {
          dropped += await this.#deleteSlices("(received_at, hash) <= ($1, $2)", [last.rows[0].received_at, last.rows[0].hash]);
          continue;
        }
        // Not enough is old enough to drop: drop what is, refuse new messages until more ages.
        dropped += await this.#deleteSlices("received_at < $1", [protectedSince]);
        this.#full = true;
        break;
      }
    }
    return dropped;
  }

  /** Deletes the rows matching `where` in slices along the received-at index, each statement within the deadline. */
  async #deleteSlices(where: string, params: unknown[]): Promise<number> {
    let dropped = 0;
    for (;;) {
      const removed =
        (await this.#pool.query(`DELETE FROM messages WHERE hash IN (SELECT hash FROM messages WHERE ${where} ORDER BY received_at, hash LIMIT ${PRUNE_SLICE})`, params)).rowCount ?? 0;
      dropped += removed;
      if (removed < PRUNE_SLICE) return dropped;
    }
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
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
