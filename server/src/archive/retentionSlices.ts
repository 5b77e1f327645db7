// Retention's deletes in slices of a few milliseconds each, every slice its own transaction: on the
// maintenance worker's connection (so they never run on the event loop that serves peers), or, for
// an archive with no worker (":memory:"), on the archive's own connection with a turn of the event
// loop between slices. Written once for both.
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** What one retention run drops. */
export interface RetentionJob {
  /** Drop every message received before this (ms since the epoch); undefined: no age bound. */
  expiredBefore?: number;
  /** Then drop the oldest received before `protectedFrom` until the archive holds at most `targetBytes` (or only protected messages). */
  size?: { targetBytes: number; protectedFrom: number };
}

export interface RetentionResult {
  dropped: number;
  /** Still over `targetBytes` with only protected messages left (puts are refused until they age). */
  full: boolean;
}

/** Rows one slice (one transaction) deletes: a few milliseconds of work, after which writers and the event loop get a turn. */
export const PRUNE_SLICE = 100;

export interface SliceStatements {
  expired: StatementSync;
  oldest: StatementSync;
  dropThrough: StatementSync;
  bytes: StatementSync;
}

/** The oldest received before a time, in the order retention drops them. */
export const OLDEST_SQL = "SELECT received_at, hash, size FROM messages INDEXED BY messages_received WHERE received_at < ? ORDER BY received_at, hash";
/** The archive's bytes (encoded messages), kept by its triggers. */
export const TOTAL_BYTES_SQL = "SELECT bytes FROM totals WHERE id = 1";
/** Drops every message received before (or at) the (received at, hash) given. */
export const DROP_THROUGH_SQL = "DELETE FROM messages WHERE (received_at, hash) <= (?, ?)";

export type OldestRow = { received_at: number | bigint; hash: Uint8Array; size: number | bigint };

/**
 * Walks `oldest` (in the order retention drops them) until `excess` bytes are covered or they run
 * out: the last row to drop and the bytes covered; undefined when there is none.
 */
export function oldestCovering(oldest: Iterable<OldestRow>, excess: number): { last: OldestRow; covered: number } | undefined {
  let covered = 0;
  let last: OldestRow | undefined;
  for (const row of oldest) {
    last = row;
    covered += Number(row.size);
    if (covered >= excess) break;
  }
  return last === undefined ? undefined : { last, covered };
}

export function sliceStatements(db: DatabaseSync): SliceStatements {
  return {
    expired: db.prepare(`DELETE FROM messages WHERE hash IN (SELECT hash FROM messages INDEXED BY messages_received WHERE received_at < ? LIMIT ${PRUNE_SLICE})`),
    oldest: db.prepare(`${OLDEST_SQL} LIMIT ${PRUNE_SLICE}`),
    dropThrough: db.prepare(DROP_THROUGH_SQL),
    bytes: db.prepare(TOTAL_BYTES_SQL),
  };
}

/** How a slice runs: `transaction` runs its work in one write transaction; `between` is awaited after every slice (it yields, and says whether to go on: false once the archive is closing). */
export interface SliceRunner {
  transaction<T>(work: () => T): T;
  between(): Promise<boolean>;
}

/** SQLITE_BUSY (and its extended codes): the write lock was not had within the busy timeout. */
const isBusy = (error: unknown) => ((error as { errcode?: number }).errcode ?? 0) % 256 === 5;

/** One slice; when another writer kept the lock for the whole busy timeout, again after a turn (undefined: closing). */
async function slice<T>(runner: SliceRunner, work: () => T): Promise<T | undefined> {
  for (;;) {
    try {
      return runner.transaction(work);
    } catch (error) {
      if (!isBusy(error)) throw error;
    }
    if (!(await runner.between())) return undefined;
  }
}

/** Runs `job` slice by slice. */
export async function pruneInSlices(statements: SliceStatements, job: RetentionJob, runner: SliceRunner): Promise<RetentionResult> {
  let dropped = 0;
  if (job.expiredBefore !== undefined) {
    for (;;) {
      const removed = await slice(runner, () => Number(statements.expired.run(job.expiredBefore!).changes));
      if (removed === undefined) return { dropped, full: false };
      dropped += removed;
      if (removed < PRUNE_SLICE) break;
      if (!(await runner.between())) return { dropped, full: false };
    }
  }
  if (job.size !== undefined) {
    for (;;) {
      const size = job.size;
      const removed = await slice(runner, () => {
        const excess = Number((statements.bytes.get() as { bytes: number | bigint }).bytes) - size.targetBytes;
        if (excess <= 0) return 0;
        // The oldest unprotected, up to a slice of them, only as many as cover the excess.
        const cover = oldestCovering(statements.oldest.all(size.protectedFrom) as OldestRow[], excess);
        if (cover === undefined) return -1;
        return Number(statements.dropThrough.run(cover.last.received_at, cover.last.hash).changes);
      });
      if (removed === undefined || removed === 0) break;
      if (removed < 0) return { dropped, full: true };
      dropped += removed;
      if (!(await runner.between())) break;
    }
  }
  return { dropped, full: false };
}
