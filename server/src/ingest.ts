// The one way messages enter the archive from the network (relay and lightpush alike): writes
// are batched, so that a burst of gossip costs one transaction per batch instead of one per
// message, and bounded, so that an archive slower than the network sheds load instead of
// growing memory. Duplicates are the archive's to drop (it keys rows by message hash).
import { ArchiveFullError, type Archive, type ArchivedMessage } from "./archive/archive.js";
import type { Logger } from "./log.js";

export interface IngestLimits {
  /** Messages written in one archive call. */
  maxBatch: number;
  /** Messages waiting for the archive; beyond, new ones are dropped (and counted). */
  maxQueued: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = { maxBatch: 500, maxQueued: 20_000 };

export interface IngestStats {
  /** Messages new to the archive. */
  archived: number;
  /** Messages the archive already held. */
  duplicates: number;
  /** Messages dropped because the queue was full or the archive failed. */
  dropped: number;
  queued: number;
}

interface Pending {
  message: ArchivedMessage;
  done?: (outcome: "archived" | "duplicate" | "failed") => void;
}

export class ArchiveWriter {
  readonly #archive: Archive;
  readonly #limits: IngestLimits;
  readonly #log: Logger;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #stats: Omit<IngestStats, "queued"> = { archived: 0, duplicates: 0, dropped: 0 };
  #lastFullLog = 0;

  constructor(archive: Archive, logger: Logger, limits: Partial<IngestLimits> = {}) {
    this.#archive = archive;
    this.#log = logger;
    this.#limits = { ...DEFAULT_INGEST_LIMITS, ...limits };
  }

  get stats(): IngestStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** Queues a message; false when the queue is full (the message is dropped). */
  offer(message: ArchivedMessage): boolean {
    return this.#enqueue({ message });
  }

  /** Queues a message and resolves when its batch is written. */
  write(message: ArchivedMessage): Promise<"archived" | "duplicate" | "failed"> {
    return new Promise((resolve) => {
      if (!this.#enqueue({ message, done: resolve })) resolve("failed");
    });
  }

  /** Resolves once everything queued so far is written. */
  async drain(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  #enqueue(pending: Pending): boolean {
    if (this.#queue.length >= this.#limits.maxQueued) {
      this.#stats.dropped++;
      if (this.#stats.dropped % 1000 === 1) this.#log.log("warn", "ingest-dropped", { dropped: this.#stats.dropped, queued: this.#queue.length });
      return false;
    }
    this.#queue.push(pending);
    // One flush at a time; it takes everything queued while the previous batch was written.
    this.#flushing ??= this.#flush();
    return true;
  }

  async #flush(): Promise<void> {
    // Let the current burst of gossip queue up before the first write.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#limits.maxBatch);
      let added = -1;
      try {
        added = await this.#archive.put(batch.map((p) => p.message));
      } catch (error) {
        this.#stats.dropped += batch.length;
        // A full archive refuses every batch until retention makes room: say so once in a while,
        // not once per burst of gossip.
        const full = error instanceof ArchiveFullError;
        if (!full || this.#stats.dropped - this.#lastFullLog >= 1000 || this.#lastFullLog === 0) {
          this.#lastFullLog = this.#stats.dropped;
          this.#log.log(full ? "warn" : "error", full ? "archive-full" : "archive-write-failed", { messages: batch.length, dropped: this.#stats.dropped, error: String(error) });
        }
      }
      if (added >= 0) {
        this.#stats.archived += added;
        this.#stats.duplicates += batch.length - added;
      }
      // A batch tells how many rows were new, not which: a caller waiting on one message learns
      // "duplicate" only when the whole batch was; the archive holds the message either way.
      const outcome = added < 0 ? "failed" : added === 0 ? "duplicate" : "archived";
      for (const p of batch) p.done?.(outcome);
    }
    this.#flushing = undefined;
  }
}
