// Worker thread of SqliteMaintenance: the archive's bulk work on a connection of its own, so that
// none of it runs on the event loop that serves peers.
// - WAL checkpoints, PASSIVE: they never wait for, nor block, the archive's readers and writer.
// - Retention's deletes, in slices. A slice takes SQLite's write lock for a few milliseconds;
//   between slices the archive's own writes (puts, counted in `shared[0]`) go first, and while a
//   slice waits for the lock (`shared[1]`) the archive's next put waits for it: they take turns.
import { parentPort, workerData } from "node:worker_threads";
import { immediateTransaction, openDatabase } from "./nodeSqlite.js";
import { waitAsync, type MaintenanceRequest } from "./maintenance.js";
import { pruneInSlices, sliceStatements, type SliceRunner } from "./retentionSlices.js";

interface Init {
  file: string;
  intervalMs: number;
  /** Int32 at 0: writes the archive's connection is starting or running; at 1: 1 while a slice wants or holds the lock. */
  writers: SharedArrayBuffer;
}

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

const runner: SliceRunner = {
  transaction: (work) => {
    Atomics.store(writers, 1, 1);
    try {
      return immediateTransaction(db, work);
    } finally {
      Atomics.store(writers, 1, 0);
      Atomics.notify(writers, 1);
    }
  },
  between,
};

const timer = setInterval(() => {
  try {
    checkpoint();
  } catch (error) {
    parentPort!.postMessage({ type: "error", message: `checkpoint: ${(error as Error).message}` });
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
  if (message.type === "prune") return reply(message.id, () => pruneInSlices(statements, message.job, runner));
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
