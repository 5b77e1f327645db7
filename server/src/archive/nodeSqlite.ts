// Loads `node:sqlite` without its ExperimentalWarning (Node 22 prints one when the module is first
// loaded): an operator's log should not warn about a module we chose on purpose. Only that one
// warning is filtered, and only while the module loads; every other warning is printed as usual.
import { createRequire } from "node:module";
import type * as Sqlite from "node:sqlite";

let loaded: typeof Sqlite | undefined;

function sqlite(): typeof Sqlite {
  if (loaded !== undefined) return loaded;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === "string" ? warning : warning.message;
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if ((type === "ExperimentalWarning" || (warning instanceof Error && warning.name === "ExperimentalWarning")) && /SQLite/.test(text)) return;
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    loaded = createRequire(import.meta.url)("node:sqlite") as typeof Sqlite;
  } finally {
    process.emitWarning = emitWarning;
  }
  return loaded;
}

/** Opens (creating when missing) a SQLite database: a file path or ":memory:". */
export function openDatabase(path: string): Sqlite.DatabaseSync {
  return new (sqlite().DatabaseSync)(path);
}

/**
 * Runs `work` in a transaction that takes the write lock first (BEGIN IMMEDIATE, waiting up to the
 * connection's busy timeout): a statement that reads and then writes would ask for the lock only
 * when it writes, and when another connection has written meanwhile SQLite fails it at once
 * (SQLITE_BUSY on a stale snapshot) without waiting.
 */
export function immediateTransaction<T>(db: Sqlite.DatabaseSync, work: () => T): T {
  // Outside the try: a BEGIN that failed has nothing to roll back.
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}
