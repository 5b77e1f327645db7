// Worker thread of WalCheckpointer: runs SQLite's WAL checkpoints on a connection of its own, so
// the copying and fsyncs they do never run on the event loop that serves peers. PASSIVE mode:
// it never waits for, nor blocks, the archive's readers and writer.
import { parentPort, workerData } from "node:worker_threads";
import { openDatabase } from "./nodeSqlite.js";

interface Init {
  file: string;
  intervalMs: number;
}

const { file, intervalMs } = workerData as Init;
const db = openDatabase(file);
db.exec("PRAGMA busy_timeout = 1000");

function checkpoint(): { busy: number; log: number; checkpointed: number } {
  const row = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as { busy: number; log: number; checkpointed: number };
  return { busy: Number(row.busy), log: Number(row.log), checkpointed: Number(row.checkpointed) };
}

const timer = setInterval(() => {
  try {
    checkpoint();
  } catch (error) {
    parentPort!.postMessage({ type: "error", message: (error as Error).message });
  }
}, intervalMs);

parentPort!.on("message", (message: { type: "checkpoint"; id: number } | { type: "close" }) => {
  if (message.type === "close") {
    clearInterval(timer);
    // A last checkpoint, so that a clean shutdown leaves the data in the database file.
    try {
      checkpoint();
    } finally {
      db.close();
      parentPort!.close();
    }
    return;
  }
  try {
    parentPort!.postMessage({ type: "result", id: message.id, result: checkpoint() });
  } catch (error) {
    parentPort!.postMessage({ type: "result", id: message.id, error: (error as Error).message });
  }
});
