/**
 * Retention on a large expired backlog: how long SQLite takes to prune it and the longest the
 * event loop (which serves every peer) stalls meanwhile (issue #24's target: no stall over 50 ms),
 * against one DELETE of the same rows (how pruning worked before it ran in slices), measured in the
 * same run on a copy of the same file. Then, on another copy, what a node's peers feel: a reader's
 * and a writer's latency while the prune runs, against the same load on the archive at rest. BENCH_PRUNE_ROWS sets the backlog (default 1,000,000). The
 * one DELETE (seconds of frozen event loop, growing with the rows) is timed on the oldest
 * BENCH_PRUNE_BASELINE_ROWS of them (default 200,000) to keep the bench short.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { DatabaseSync } from "node:sqlite";
import type { proto_message } from "@waku/proto";
import { SqliteArchive, toArchived } from "@status/mailserver-node";
import type { ServerRow } from "./server.js";

const TOPIC = "/waku/2/rs/16/32";
const FILL_BATCH = 20_000;

/**
 * `rows` expired messages; the first `older` of them were received a day earlier than the rest.
 * Filled through the archive's own `put` in a process of its own: the million messages it makes
 * are then not garbage in this one, whose collector would pause during the prune and count as its
 * stalls.
 */
async function fill(file: string, rows: number, older: number, receivedAt: number): Promise<void> {
  const script = `
    import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
    import { SqliteArchive, toArchived } from "@status/mailserver-node";
    const [file, rows, older, receivedAt] = [process.argv[1], ...process.argv.slice(2).map(Number)];
    const archive = new SqliteArchive(file);
    // Big batches (each put is one transaction), none straddling the \`older\` boundary.
    for (let done = 0; done < rows; ) {
      const size = Math.min(${FILL_BATCH}, rows - done, done < older ? older - done : rows);
      const batch = Array.from({ length: size }, (_, i) =>
        toArchived("${TOPIC}", { payload: randomBytes(200), contentTopic: "/bench/1/prune/proto", timestamp: BigInt(done + i + 1) * 1_000_000n, version: 0 }),
      );
      await archive.put(batch, done < older ? receivedAt - 86_400_000 : receivedAt);
      done += size;
    }
    await archive.close();
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, file, String(rows), String(older), String(receivedAt)], { cwd: import.meta.dirname, stdio: ["ignore", "inherit", "inherit"] });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`bench: the prune fill exited with ${code}`);
}

/**
 * Runs `work` while a timer ticks every millisecond; resolves to its duration, the longest gap
 * between ticks (ms), the CPU time this process spent in that gap (a gap with little CPU was spent
 * waiting: on the disk, or for a core the machine's other processes held) and how many gaps
 * exceeded 50 ms.
 */
async function stalls(work: () => Promise<unknown>): Promise<{ ms: number; maxStallMs: number; maxStallCpuMs: number; over50: number; maxGcMs: number }> {
  // The garbage collector's pauses, to tell a stall of the archive's from one of this process's heap.
  let maxGcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) maxGcMs = Math.max(maxGcMs, entry.duration);
  });
  gc.observe({ entryTypes: ["gc"] });
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let maxStallMs = 0;
  let maxStallCpuMs = 0;
  let over50 = 0;
  const ticker = setInterval(() => {
    const at = performance.now();
    const cpu = process.cpuUsage();
    const gap = at - last;
    if (gap > 50) over50++;
    if (gap > maxStallMs) {
      maxStallMs = gap;
      maxStallCpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    }
    last = at;
    lastCpu = cpu;
  }, 1);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  // One more tick after the last synchronous step, so that its stall is counted too.
  await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(ticker);
  gc.disconnect();
  return { ms, maxStallMs, maxStallCpuMs, over50, maxGcMs };
}

const pct = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

/**
 * A node's peers, on the same event loop as the archive: a newest-page query every 5 ms and a put
 * of one new message every 10th query, until `until` resolves. Resolves to their latencies (ms).
 */
async function peers(archive: SqliteArchive, until: Promise<unknown>): Promise<{ reads: number[]; writes: number[] }> {
  let going = true;
  void until.finally(() => (going = false));
  const reads: number[] = [];
  const writes: number[] = [];
  for (let i = 0; going; i++) {
    let started = performance.now();
    await archive.query({ pubsubTopic: TOPIC, contentTopics: ["/bench/1/prune/proto"], forward: false, limit: 20 });
    reads.push(performance.now() - started);
    if (i % 10 === 0) {
      started = performance.now();
      await archive.put([toArchived(TOPIC, { payload: randomBytes(200), contentTopic: "/bench/1/live/proto", timestamp: BigInt(Date.now()) * 1_000_000n, version: 0 } as proto_message.WakuMessage)]);
      writes.push(performance.now() - started);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { reads, writes };
}

export async function measurePrune(
  rows = Number(process.env.BENCH_PRUNE_ROWS ?? 1_000_000),
  baselineRows = Math.min(rows, Number(process.env.BENCH_PRUNE_BASELINE_ROWS ?? 200_000)),
): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const tmp = await mkdtemp(path.join(tmpdir(), "bench-prune-"));
  const now = Date.now();
  const expired = now - 40 * 86_400_000;
  try {
    // Filled once (closed, so the WAL is checkpointed into the file), copied for the baseline.
    const file = path.join(tmp, "sliced.sqlite");
    const fillStarted = performance.now();
    await fill(file, rows, baselineRows, expired);
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const copy = path.join(tmp, "one.sqlite");
    await copyFile(file, copy);
    const loaded = path.join(tmp, "loaded.sqlite");
    await copyFile(file, loaded);

    // The machine's own noise: the same timer for a few seconds with no work.
    const idle = await stalls(() => new Promise((resolve) => setTimeout(resolve, 5_000)));
    const sliced = new SqliteArchive(file);
    const ours = await stalls(() => sliced.prune({ maxAgeSeconds: 30 * 86_400, maxBytes: 0 }, now));
    const left = (await sliced.stats()).messages;
    await sliced.close();
    if (left !== 0) throw new Error(`bench: prune left ${left} expired rows`);

    const db = new DatabaseSync(copy);
    // Only the older rows: the first `baselineRows`.
    let deleted = 0;
    const one = await stalls(async () => (deleted = Number(db.prepare("DELETE FROM messages WHERE received_at < ?").run(expired).changes)));
    db.close();
    if (deleted !== baselineRows) throw new Error(`bench: the baseline deleted ${deleted} rows, not ${baselineRows}`);

    // Peers' latency: 5 s at rest, then during the prune, on the same archive.
    const busy = new SqliteArchive(loaded);
    const rest = await peers(busy, new Promise((resolve) => setTimeout(resolve, 5_000)));
    const pruneStarted = performance.now();
    const pruning = busy.prune({ maxAgeSeconds: 30 * 86_400, maxBytes: 0 }, now);
    const during = await peers(busy, pruning);
    const loadedSeconds = (performance.now() - pruneStarted) / 1000;
    await pruning;
    await busy.close();
    const n = (x: number) => x.toLocaleString("en-US");
    const against = baselineRows === rows ? "" : ` (baseline: one DELETE of ${n(baselineRows)})`;
    return {
      rows: [
        { measure: `prune ${n(rows)} expired rows: longest event-loop stall${against}`, value: ours.maxStallMs, baseline: one.maxStallMs, ratio: ours.maxStallMs / one.maxStallMs, unit: "ms" },
        { measure: `prune ${n(rows)} expired rows: time${against}`, value: ours.ms, baseline: one.ms, ratio: ours.ms / one.ms, unit: "ms" },
        { measure: `prune ${n(rows)} expired rows: stalls over 50 ms (vs 5 s with no work)`, value: ours.over50, baseline: idle.over50, unit: "stalls" },
        { measure: "longest stall with no work (this machine's noise)", value: idle.maxStallMs, unit: "ms" },
        { measure: `a reader's p99 while pruning ${n(rows)} rows vs at rest`, value: pct(during.reads, 0.99), baseline: pct(rest.reads, 0.99), ratio: pct(during.reads, 0.99) / pct(rest.reads, 0.99), unit: "ms" },
        { measure: `a writer's p99 while pruning ${n(rows)} rows vs at rest`, value: pct(during.writes, 0.99), baseline: pct(rest.writes, 0.99), ratio: pct(during.writes, 0.99) / pct(rest.writes, 0.99), unit: "ms" },
        { measure: `a reader's longest wait while pruning ${n(rows)} rows vs at rest`, value: Math.max(...during.reads), baseline: Math.max(...rest.reads), ratio: Math.max(...during.reads) / Math.max(...rest.reads), unit: "ms" },
        ...(baselineRows === rows ? [] : [{ measure: `prune ${n(rows)} expired rows: time per 1,000 rows, vs one DELETE`, value: (ours.ms / rows) * 1000, baseline: (one.ms / baselineRows) * 1000, ratio: ours.ms / rows / (one.ms / baselineRows), unit: "ms" }]),
      ],
      notes: [
        `prune: SQLite (WAL, synchronous NORMAL) on disk, ${n(rows)} expired messages of ~240 bytes (filled in ${fillSeconds.toFixed(0)} s, ${n(FILL_BATCH)} a put, by another process, so that its garbage is not collected here during the prune; the bench runs this part in a process of its own too), pruned by the archive (slices of 100 rows, each its own transaction, on its maintenance worker thread with the WAL checkpoints, the archive's own writes going first between slices; the event loop's longest stall used ${ours.maxStallCpuMs.toFixed(0)} ms of this process's CPU, both threads counted; the longest garbage-collection pause meanwhile: ${ours.maxGcMs.toFixed(0)} ms); baseline = one DELETE (the archive's old prune) of the oldest ${n(baselineRows)} of them${baselineRows === rows ? "" : " (its freeze grows with the rows it deletes)"}, on a copy of the same file; a timer ticking every millisecond measures the stalls`,
        `prune under load: on another copy, a newest-page query (20 of a content topic) every 5 ms and a put of one message every 10th query, on the archive's event loop: ${n(rest.reads.length)} reads and ${n(rest.writes.length)} writes in 5 s at rest, ${n(during.reads.length)} and ${n(during.writes.length)} during the prune, which took ${loadedSeconds.toFixed(0)} s`,
      ],
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
