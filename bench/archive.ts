/**
 * Store query latency of the archive itself (no network) for each query shape, SQLite and
 * PostgreSQL, at BENCH_ARCHIVE_MESSAGES archived messages (default 1,000,000) against the same
 * shapes on a 1,000-message archive (issue #20's target: p99 within 3x). 8 shards (one quiet: 1
 * message in 1,000), 200 content topics, 200-byte messages, 1 ms apart. The latency is event-loop
 * time for SQLite (it runs on the loop that serves everyone), round trips for PostgreSQL. The two
 * archives are queried in alternation, so that machine noise (GC, other processes) hits both alike.
 * Both are filled through the archive's own `put`, in the largest batches it takes. Nothing fails
 * on speed.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { PostgresArchive, SqliteArchive, type Archive, type ArchivedMessage, type ArchiveQuery } from "@status/mailserver-node";
import { startPostgres } from "../test/helpers/postgres.js";

const SHARDS = Array.from({ length: 8 }, (_, i) => `/waku/2/rs/16/${i}`);
const TOPICS = Array.from({ length: 200 }, (_, i) => `/status/1/t${i}/proto`);
const BASE = 1_700_000_000_000n * 1_000_000n;
const RUNS = 300;
const WARM_UP = 20;
/**
 * Messages per `put`: SQLite writes a batch in one transaction; PostgreSQL's put is one multi-row
 * INSERT of 7 parameters a row, and a statement takes at most 65,535 parameters.
 */
const BATCH = { sqlite: 20_000, postgres: 9_000 } as const;
/** PostgreSQL puts in flight at once (the archive's pool has 8 connections): encoding overlaps inserting. */
const PG_PUTS_IN_FLIGHT = 2;

export interface ArchiveRow {
  backend: "sqlite" | "postgres";
  shape: string;
  /** At `messages` archived, ms. */
  p50: number;
  p99: number;
  /** The same shape on the 1,000-message archive, ms. */
  baseP50: number;
  baseP99: number;
  /** p99 / baseP99. */
  ratio: number;
}

export interface ArchiveFill {
  backend: "sqlite" | "postgres";
  messages: number;
  seconds: number;
  perSecond: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

function batchOf(from: number, to: number, sampled: Uint8Array[], every: number): ArchivedMessage[] {
  // One random buffer per batch, sliced: the fill's own cost stays small beside the archive's.
  const random = randomBytes((to - from) * 232);
  const batch: ArchivedMessage[] = [];
  for (let j = from; j < to; j++) {
    const at = (j - from) * 232;
    const hash = random.subarray(at, at + 32);
    if (j % every === 0) sampled.push(hash);
    const pubsubTopic = j % 1000 === 999 ? SHARDS[7]! : SHARDS[j % 7]!;
    batch.push({ hash, pubsubTopic, contentTopic: TOPICS[j % TOPICS.length]!, timestamp: BASE + BigInt(j) * 1_000_000n, message: random.subarray(at + 32, at + 232) });
  }
  return batch;
}

/** Fills the archive; resolves to 1,000 hashes spread over it (100 distinct ones for a hash lookup, either size) and the fill time. */
async function fill(archive: Archive, count: number): Promise<{ sampled: Uint8Array[]; seconds: number }> {
  const sampled: Uint8Array[] = [];
  const every = Math.max(1, Math.floor(count / 1000));
  const size = BATCH[archive.kind];
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + size);
      await archive.put(batchOf(from, next, sampled, every));
    }
  };
  await Promise.all(Array.from({ length: archive.kind === "postgres" ? PG_PUTS_IN_FLIGHT : 1 }, worker));
  return { sampled, seconds: (performance.now() - started) / 1000 };
}

function shapes(count: number, sampled: Uint8Array[]): [string, ArchiveQuery][] {
  const mid = sampled[Math.floor(sampled.length / 2)]!;
  // The content topic of message 505 (shard 1), which has messages in the later half of either archive.
  const later = TOPICS[505 % TOPICS.length]!;
  return [
    ["newest page", { pubsubTopic: SHARDS[1], contentTopics: [TOPICS[1]!], forward: false, limit: 20 }],
    ["deep page (cursor)", { pubsubTopic: SHARDS[0], contentTopics: [], cursor: mid, forward: true, limit: 20 }],
    ["time range", { pubsubTopic: SHARDS[1], contentTopics: [later], timeStart: BASE + BigInt(count / 2) * 1_000_000n, timeEnd: BASE + BigInt(count) * 1_000_000n, forward: true, limit: 20 }],
    ["10 content topics", { pubsubTopic: SHARDS[1], contentTopics: TOPICS.slice(0, 10), forward: false, limit: 20 }],
    ["100 content topics, page 100", { pubsubTopic: SHARDS[1], contentTopics: TOPICS.slice(0, 100), forward: false, limit: 100 }],
    ["100 hashes", { contentTopics: [], hashes: Array.from({ length: 100 }, (_, i) => sampled[i * 10]!), forward: true, limit: 100 }],
    ["pubsub topic only", { pubsubTopic: SHARDS[2], contentTopics: [], forward: false, limit: 20 }],
    ["quiet shard only", { pubsubTopic: SHARDS[7], contentTopics: [], forward: false, limit: 20 }],
    ["no filter, deep page of 100", { contentTopics: [], cursor: mid, forward: true, limit: 100 }],
  ];
}

/** p50/p99 of `query` on each archive, timed in alternation. */
async function measure(shape: string, large: Archive, largeQuery: ArchiveQuery, small: Archive, smallQuery: ArchiveQuery) {
  const timed = async (archive: Archive, query: ArchiveQuery, into?: number[]) => {
    const started = performance.now();
    const page = await archive.query(query);
    into?.push(performance.now() - started);
    if (page.messages.length === 0) throw new Error(`bench: query shape "${shape}" matched nothing`);
  };
  for (let i = 0; i < WARM_UP; i++) {
    await timed(large, largeQuery);
    await timed(small, smallQuery);
  }
  const big: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await timed(large, largeQuery, big);
    await timed(small, smallQuery, base);
  }
  big.sort((a, b) => a - b);
  base.sort((a, b) => a - b);
  return { p50: percentile(big, 50), p99: percentile(big, 99), baseP50: percentile(base, 50), baseP99: percentile(base, 99) };
}

export async function measureArchive(count = Number(process.env.BENCH_ARCHIVE_MESSAGES ?? 1_000_000)): Promise<{ rows: ArchiveRow[]; fills: ArchiveFill[]; notes: string[] }> {
  const rows: ArchiveRow[] = [];
  const fills: ArchiveFill[] = [];
  const tmp = await mkdtemp(path.join(tmpdir(), "bench-archive-"));
  const pg = await startPostgres();
  try {
    for (const backend of ["sqlite", "postgres"] as const) {
      const open = async (name: string): Promise<Archive> =>
        backend === "sqlite" ? new SqliteArchive(path.join(tmp, `${name}.sqlite`)) : PostgresArchive.open(await pg.createDatabase(name));
      const small = await open(`small_${backend}`);
      const large = await open(`large_${backend}`);
      try {
        const smallFill = await fill(small, 1000);
        const largeFill = await fill(large, count);
        fills.push({ backend, messages: count, seconds: largeFill.seconds, perSecond: count / largeFill.seconds });
        const smallShapes = shapes(1000, smallFill.sampled);
        for (const [i, [shape, query]] of shapes(count, largeFill.sampled).entries()) {
          const m = await measure(shape, large, query, small, smallShapes[i]![1]);
          rows.push({ backend, shape, ...m, ratio: m.p99 / m.baseP99 });
        }
      } finally {
        await small.close();
        await large.close();
      }
    }
  } finally {
    await pg.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  const notes = [
    `archive: ${count.toLocaleString("en-US")} messages of 200 bytes on 8 shards (one quiet: 1 message in 1,000), 200 content topics, against the same query shapes on a 1,000-message archive; ${RUNS} runs of each shape after ${WARM_UP} warm-up runs, the two archives queried in alternation; no network (SQLite: event-loop time; PostgreSQL: round trips on loopback, fsync off)`,
    ...fills.map(
      (f) =>
        `archive fill, ${f.backend}: ${f.messages.toLocaleString("en-US")} messages in ${f.seconds.toFixed(0)} s (${Math.round(f.perSecond).toLocaleString("en-US")} msgs/s) through the archive's put, ${BATCH[f.backend].toLocaleString("en-US")} a batch${f.backend === "postgres" ? ` (one multi-row INSERT each, ${PG_PUTS_IN_FLIGHT} in flight)` : " (one transaction each)"}`,
    ),
  ];
  return { rows, fills, notes };
}

/** The archive rows as a table: one line per backend and query shape. */
export function archiveTable(rows: ArchiveRow[], count: number): string {
  const ms = (n: number) => n.toFixed(2);
  const big = count.toLocaleString("en-US");
  const header = ["backend", "query shape", `p50 at ${big}`, `p99 at ${big}`, "p50 at 1,000", "p99 at 1,000", "p99 ratio"];
  const body = rows.map((r) => [r.backend, r.shape, ms(r.p50), ms(r.p99), ms(r.baseP50), ms(r.baseP99), `${r.ratio.toFixed(1)}x`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
