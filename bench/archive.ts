/**
 * `npx hardhat run bench/archive.ts` (after `npm run build`): store query latency of the archive
 * itself (no network) for each query shape, SQLite and PostgreSQL, at BENCH_ARCHIVE_MESSAGES
 * archived messages (default 1,000,000) against the same shapes on a 1,000-message archive
 * (target: p99 within 3x). 8 shards (one quiet: 1 message in 1,000), 200 content topics, 200-byte
 * messages, 1 ms apart. The latency is event-loop time for SQLite (it runs on the loop that serves
 * everyone), round trips for PostgreSQL. Nothing fails on speed. Not (yet) part of `npm run bench`.
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

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Fills the archive; resolves to hashes spread over it (every 997th message). */
async function fill(archive: Archive, count: number): Promise<Uint8Array[]> {
  const sampled: Uint8Array[] = [];
  for (let i = 0; i < count; i += 2000) {
    const batch: ArchivedMessage[] = [];
    for (let j = i; j < Math.min(count, i + 2000); j++) {
      const hash = randomBytes(32);
      if (j % 997 === 0) sampled.push(hash);
      const pubsubTopic = j % 1000 === 999 ? SHARDS[7]! : SHARDS[j % 7]!;
      batch.push({ hash, pubsubTopic, contentTopic: TOPICS[j % TOPICS.length]!, timestamp: BASE + BigInt(j) * 1_000_000n, message: randomBytes(200) });
    }
    await archive.put(batch);
  }
  return sampled;
}

function shapes(count: number, sampled: Uint8Array[]): [string, ArchiveQuery][] {
  const mid = sampled[Math.floor(sampled.length / 2)]!;
  return [
    ["newest page", { pubsubTopic: SHARDS[1], contentTopics: [TOPICS[1]!], forward: false, limit: 20 }],
    ["deep page (cursor)", { pubsubTopic: SHARDS[0], contentTopics: [], cursor: mid, forward: true, limit: 20 }],
    ["time range", { pubsubTopic: SHARDS[1], contentTopics: [TOPICS[1]!], timeStart: BASE + BigInt(count / 2) * 1_000_000n, timeEnd: BASE + BigInt(count) * 1_000_000n, forward: true, limit: 20 }],
    ["10 content topics", { pubsubTopic: SHARDS[1], contentTopics: TOPICS.slice(0, 10), forward: false, limit: 20 }],
    ["100 content topics, page 100", { pubsubTopic: SHARDS[1], contentTopics: TOPICS.slice(0, 100), forward: false, limit: 100 }],
    ["100 hashes", { contentTopics: [], hashes: Array.from({ length: 100 }, (_, i) => sampled[i % sampled.length]!), forward: true, limit: 100 }],
    ["pubsub topic only", { pubsubTopic: SHARDS[2], contentTopics: [], forward: false, limit: 20 }],
    ["quiet shard only", { pubsubTopic: SHARDS[7], contentTopics: [], forward: false, limit: 20 }],
    ["no filter, deep page of 100", { contentTopics: [], cursor: mid, forward: true, limit: 100 }],
  ];
}

async function measure(archive: Archive, query: ArchiveQuery): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await archive.query(query);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function main(): Promise<void> {
  const count = Number(process.env.BENCH_ARCHIVE_MESSAGES ?? 1_000_000);
  const tmp = await mkdtemp(path.join(tmpdir(), "bench-archive-"));
  const pg = await startPostgres();
  try {
    for (const backend of ["sqlite", "postgres"] as const) {
      const open = async (name: string): Promise<Archive> =>
        backend === "sqlite" ? new SqliteArchive(path.join(tmp, `${name}.sqlite`)) : PostgresArchive.open(await pg.createDatabase(name));
      const small = await open(`small_${backend}`);
      const large = await open(`large_${backend}`);
      try {
        const smallHashes = await fill(small, 1000);
        const started = performance.now();
        const largeHashes = await fill(large, count);
        console.log(`${backend}: ${count} messages archived in ${((performance.now() - started) / 1000).toFixed(0)} s`);
        const smallShapes = shapes(1000, smallHashes);
        for (const [i, [name, query]] of shapes(count, largeHashes).entries()) {
          const big = await measure(large, query);
          const base = await measure(small, smallShapes[i]![1]);
          console.log(
            `${backend.padEnd(8)} ${name.padEnd(30)} p50 ${big.p50.toFixed(2).padStart(6)} ms  p99 ${big.p99.toFixed(2).padStart(6)} ms   (1,000 messages: p50 ${base.p50.toFixed(2)}, p99 ${base.p99.toFixed(2)}; p99 ${(big.p99 / base.p99).toFixed(1)}x)`,
          );
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
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
