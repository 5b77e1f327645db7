// The SQLite archive's bulk work, off the event loop, on a worker thread with a connection of its
// own (maintenanceWorker.ts):
// - WAL checkpoints. By default SQLite checkpoints whenever a commit takes the WAL past 1,000
//   pages, inside that commit: on node:sqlite that is the event loop that serves every peer, and
//   while retention pruned a million rows these were the longest stalls (up to 257 ms).
// - Retention's deletes. Sliced on the event loop, pruning a million rows still stalled it up to
//   116 ms: the slices' disk writes contend with the checkpoints' in the kernel (the stalls were
//   system time, once a second, with each checkpoint). On the worker the two take turns.
// The archive's own connection turns automatic checkpoints off. If the worker fails, the archive
// turns them back on and prunes on its own connection again: slower, but the WAL never grows
// without bound and retention still runs.
import { Worker } from "node:worker_threads";
import type { RetentionJob, RetentionResult } from "./retentionSlices.js";

export interface CheckpointResult {
  /** 1 when the checkpoint could not finish because a reader or writer held the WAL. */
  busy: number;
  /** Frames in the WAL, and how many of them are now in the database file. */
  log: number;
  checkpointed: number;
}

// Atomics.waitAsync is in Node since 16; TypeScript types it from lib es2024 on, which this build does not use.
export const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

/** What the archive asks of its worker. */
export type MaintenanceRequest = { type: "checkpoint"; id: number } | { type: "prune"; id: number; job: RetentionJob } | { type: "close" };

type Reply = { type: "result"; id: number; result?: unknown; error?: string } | { type: "error"; message: string };

type Request = MaintenanceRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class SqliteMaintenance {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
  /** Int32 at 0: writes the archive's connection is starting or running (the worker's next slice waits for them); at 1: 1 while a slice wants or holds the lock. */
  readonly #writers = new Int32Array(new SharedArrayBuffer(8));
  #next = 0;
  #closed = false;
  #failed = false;

  /** `onFailure` is called once if the worker cannot go on (it has stopped by then). */
  constructor(file: string, options: { intervalMs: number; onFailure(error: Error): void }) {
    this.#worker = new Worker(new URL("./maintenanceWorker.js", import.meta.url), {
      workerData: { file, intervalMs: options.intervalMs, writers: this.#writers.buffer },
    });
    // An archive someone forgot to close must not keep the process alive.
    this.#worker.unref();
    const fail = (error: Error) => {
      for (const { reject } of this.#waiting.values()) reject(error);
      this.#waiting.clear();
      if (this.#failed || this.#closed) return;
      this.#failed = true;
      options.onFailure(error);
    };
    this.#worker.on("message", (reply: Reply) => {
      if (reply.type === "error") return fail(new Error(`SQLite maintenance failed: ${reply.message}`));
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(`SQLite maintenance failed: ${reply.error}`));
      else waiter?.resolve(reply.result);
    });
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => {
      if (!this.#closed) return fail(new Error(`SQLite maintenance worker exited with code ${code}`));
      for (const { reject } of this.#waiting.values()) reject(new Error("the archive is closed"));
      this.#waiting.clear();
    });
  }

  /** False once the worker has failed: the archive then does the work itself. */
  get working(): boolean {
    return !this.#failed && !this.#closed;
  }

  #ask<T>(request: Request): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the archive is closed"));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (result: unknown) => void, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  /** Checkpoints now (besides every interval); resolves with SQLite's answer. */
  checkpoint(): Promise<CheckpointResult> {
    return this.#ask({ type: "checkpoint" });
  }

  /** Runs a retention job in slices on the worker. */
  prune(job: RetentionJob): Promise<RetentionResult> {
    return this.#ask({ type: "prune", job });
  }

  /**
   * Runs a write on the archive's connection, in turn with the worker's slices: it counts as a
   * waiting writer first (so the worker starts no new slice), then waits, without blocking the
   * event loop, for the slice under way (a few milliseconds), so that it rarely waits for SQLite's
   * lock on the event loop. Puts and slices so take turns: neither can starve the other.
   */
  async write<T>(work: () => T): Promise<T> {
    Atomics.add(this.#writers, 0, 1);
    try {
      // Bounded, whatever the worker does: its busy timeout covers the rest.
      for (let waits = 0; waits < 20 && Atomics.load(this.#writers, 1) === 1; waits++) {
        const wait = waitAsync(this.#writers, 1, 1, 50);
        if (wait.async) await wait.value;
      }
      return work();
    } finally {
      Atomics.sub(this.#writers, 0, 1);
      Atomics.notify(this.#writers, 0);
    }
  }

  /** Stops the worker: a prune under way ends at its next slice, then a last checkpoint. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exited = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
    this.#worker.postMessage({ type: "close" } satisfies MaintenanceRequest);
    // The worker's last checkpoint is bounded by its busy timeout; terminate if it is stuck anyway.
    const timer = setTimeout(() => void this.#worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
