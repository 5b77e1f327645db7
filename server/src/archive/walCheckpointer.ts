// SQLite's WAL checkpoints, off the event loop. By default SQLite checkpoints whenever a commit
// takes the WAL past 1,000 pages, inside that commit: on node:sqlite that is the event loop that
// serves every peer, and while retention prunes a million rows these checkpoints were the longest
// stalls (up to 257 ms; 18-21 ms slices without them). The archive's own connection turns
// automatic checkpoints off and this worker checkpoints on a connection of its own instead. If the
// worker fails, the archive turns automatic checkpoints back on: slower, but the WAL never grows
// without bound.
import { Worker } from "node:worker_threads";

export interface CheckpointResult {
  /** 1 when the checkpoint could not finish because a reader or writer held the WAL. */
  busy: number;
  /** Frames in the WAL, and how many of them are now in the database file. */
  log: number;
  checkpointed: number;
}

type Reply = { type: "result"; id: number; result?: CheckpointResult; error?: string } | { type: "error"; message: string };

export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(result: CheckpointResult): void; reject(error: Error): void }>();
  #next = 0;
  #closed = false;

  /** `onFailure` is called once if the worker cannot checkpoint (it has stopped by then). */
  constructor(file: string, options: { intervalMs: number; onFailure(error: Error): void }) {
    this.#worker = new Worker(new URL("./walCheckpointWorker.js", import.meta.url), { workerData: { file, intervalMs: options.intervalMs } });
    // An archive someone forgot to close must not keep the process alive.
    this.#worker.unref();
    let failed = false;
    const fail = (error: Error) => {
      for (const { reject } of this.#waiting.values()) reject(error);
      this.#waiting.clear();
      if (failed || this.#closed) return;
      failed = true;
      options.onFailure(error);
    };
    this.#worker.on("message", (reply: Reply) => {
      if (reply.type === "error") return fail(new Error(`WAL checkpoint failed: ${reply.message}`));
      const waiter = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(`WAL checkpoint failed: ${reply.error}`));
      else waiter?.resolve(reply.result!);
    });
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => {
      if (!this.#closed) fail(new Error(`WAL checkpoint worker exited with code ${code}`));
    });
  }

  /** Checkpoints now (besides every interval); resolves with SQLite's answer. */
  checkpoint(): Promise<CheckpointResult> {
    if (this.#closed) return Promise.reject(new Error("the archive is closed"));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ type: "checkpoint", id });
    });
  }

  /** Stops the worker after a last checkpoint. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exited = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
    this.#worker.postMessage({ type: "close" });
    // The worker's last checkpoint is bounded by its busy timeout; terminate if it is stuck anyway.
    const timer = setTimeout(() => void this.#worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
