// Worker thread of SqliteMaintenance: the archive's bulk work on a connection of its own, so that
// none of it runs on the event loop that serves peers.
// - WAL checkpoints, PASSIVE: they never wait for, nor block, the archive's readers and writer.
// - Retention's deletes, in slices. A slice takes SQLite's write lock for a few milliseconds;
//   between slices the archive's own writes (puts, counted in `writers`) go first.
import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "./nodeSqlite.js";
import { pruneInSlices, sliceStatements, type RetentionJob } from "./retentionSlices.js";

interface Init {
  file: string;
  intervalMs: number;
  /** Int32 at 0: how many writes the archive's connection is starting or running. */
  writers: SharedArrayBuffer;
}

export type MaintenanceRequest = { type: "checkpoint"; id: number } | { type: "prune"; id: number; job: RetentionJob } | { type: "close" };

// Atomics.waitAsync is in Node since 16; TypeScript types it from lib es2024 on, which this build does not use.
const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

const { file, intervalMs, writers: shared } = workerData as Init;
const writers = new Int32Array(shared);
const db = openDatabase(file);
db.exec("PRAGMA busy_timeout = 1000");
const statements = sliceStatements(db);
let closing = false;
const running = new Set<Promise<unknown>>();

function checkpoint(): { busy: number; log: number; checkpointed: number } {
  const row = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as { busy: number; log: number; checkpointed: number };
  return { busy: Number(row.busy), log: Number(row.log), checkpointed: Number(row.checkpointed) };
}

/** After each slice: the archive's waiting writes first, then this thread's timers and messages. */
async function between(): Promise<boolean> {
  for (;;) {
    const waiting = Atomics.load(writers, 0);
    if (waiting === 0) break;
    const wait = waitAsync(writers, 0, waiting, 100);
    if (wait.async) await wait.value;
  }
  await new Promise((resolve) => setImmediate(resolve));
  return !closing;
}

const timer = setInterval(() => {
  try {
    checkpoint();
  } catch (error) {
    parentPort!.postMessage({ type: "error", message: (error as Error).message });
  }
}, intervalMs);

function reply(id: number, work: () => unknown): void {
  const done = Promise.resolve()
    .then(work)
    .then(
      (result) => parentPort!.postMessage({ type: "result", id, result }),
      (error: unknown) => parentPort!.postMessage({ type: "result", id, error: (error as Error).message }),
    );
  running.add(done);
  void done.finally(() => running.delete(done));
}

parentPort!.on("message", (message: MaintenanceRequest) => {
  if (message.type === "checkpoint") return reply(message.id, checkpoint);
  if (message.type === "prune") return reply(message.id, () => pruneInSlices(statements, message.job, between));
  // Close: running prunes stop at their next slice; then a last checkpoint, so that a clean
  // shutdown leaves the data in the database file.
  closing = true;
  clearInterval(timer);
  void Promise.allSettled([...running]).then(() => {
    try {
      checkpoint();
    } finally {
      db.close();
      parentPort!.close();
    }
  });
});
