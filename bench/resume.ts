/**
 * Store Resume: how fast a mail server that was offline recovers 10,000 missed messages from
 * another one (store v3 over a loopback TCP connection, pages of 100, every message checked and
 * hashed again, then archived in SQLite), against putting the same 10,000 messages into an
 * archive directly in the same run. Both nodes run in this one process, so the figure includes
 * the serving peer's work too. Nothing fails on speed.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { multiaddr } from "@multiformats/multiaddr";
import { proto_message } from "@waku/proto";
import { checkResumed, MailServerNode, SqliteArchive, StoreResume, toArchived, type ArchivedMessage, type DuplexStream } from "@status/mailserver-node";
import type { ServerRow } from "./server.js";

const CLUSTER = 16;
const SHARDS = [1, 32, 64, 128, 256];
const TOPICS = SHARDS.map((s) => `/waku/2/rs/${CLUSTER}/${s}`);
const COUNT = 10_000;
const ROUNDS = 3;

/** `COUNT` messages of ~240 bytes over Status's five shards, spread over the last 5 hours. */
function missedMessages(): ArchivedMessage[] {
  const now = Date.now();
  return Array.from({ length: COUNT }, (_, i) => {
    const pubsubTopic = TOPICS[i % TOPICS.length]!;
    const wire = {
      payload: new TextEncoder().encode(`bench message ${i} ${"x".repeat(200)}`),
      contentTopic: "/bench/1/chat/proto",
      timestamp: BigInt(now - 5 * 3_600_000 + Math.floor((i * 5 * 3_600_000) / COUNT)) * 1_000_000n,
    };
    return toArchived(pubsubTopic, wire);
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Messages/s through the per-message check alone (decoded entries in, as a page gives them). */
function checkRate(messages: ArchivedMessage[]): number {
  const entries = messages.map((m) => ({ messageHash: m.hash, pubsubTopic: m.pubsubTopic, message: proto_message.WakuMessage.decode(m.message) }));
  const check = { pubsubTopics: new Set(TOPICS), maxMessageBytes: 150 * 1024, fromNs: 0n, toNs: BigInt(Date.now() + 60_000) * 1_000_000n };
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (const entry of entries) if (!("message" in checkResumed(entry, check))) throw new Error("bench message rejected");
    rates.push(entries.length / ((performance.now() - started) / 1000));
  }
  return median(rates);
}

export async function measureResume(): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const messages = missedMessages();
  const tmp = await mkdtemp(path.join(tmpdir(), "mailserver-bench-resume-"));
  const archives: SqliteArchive[] = [];
  const nodes: MailServerNode[] = [];
  const open = () => {
    const archive = new SqliteArchive(":memory:");
    archives.push(archive);
    return archive;
  };
  const node = async (archive: SqliteArchive) => {
    const n = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: CLUSTER,
      shards: SHARDS,
      mode: "free",
      archive,
      // The peer's free rate limit is not what is measured here.
      admission: { freeBurst: 1e9, freeQueriesPerMinute: 1e9, freeQueriesPerSecond: 1e9 },
    });
    nodes.push(n);
    await n.start();
    return n;
  };
  try {
    const peerArchive = open();
    await peerArchive.put(messages);
    const peer = await node(peerArchive);
    const self = await node(open());
    const dial = async (address: string, protocol: string, { signal }: { signal: AbortSignal }) =>
      (await self.libp2p.dialProtocol(multiaddr(address), protocol, { signal })) as unknown as DuplexStream;

    const resumed: number[] = [];
    const direct: number[] = [];
    let pages = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Baseline: the same messages into an empty archive, 100 per put (the pages resume archives).
      const target = open();
      let started = performance.now();
      for (let i = 0; i < messages.length; i += 100) await target.put(messages.slice(i, i + 100));
      direct.push(COUNT / ((performance.now() - started) / 1000));

      const resume = new StoreResume({
        dial,
        archive: open(),
        pubsubTopics: TOPICS,
        peers: [peer.multiaddrs[0]!],
        lastOnlineFile: path.join(tmp, `last-online-${round}.json`),
      });
      started = performance.now();
      const report = await resume.resume();
      const seconds = (performance.now() - started) / 1000;
      if (!report.complete || report.archived !== COUNT || report.rejected !== 0) {
        throw new Error(`resume did not recover the ${COUNT} messages: ${JSON.stringify({ ...report, failures: report.failures.slice(0, 3) })}`);
      }
      resumed.push(COUNT / seconds);
      pages = report.pages;
    }
    const rate = median(resumed);
    const baseline = median(direct);
    const checks = checkRate(messages);
    return {
      rows: [
        { measure: `store resume: ${COUNT.toLocaleString("en-US")} missed messages from a peer vs put directly`, value: rate, baseline, ratio: rate / baseline, unit: "msgs/s" },
        { measure: `store resume: time to recover ${COUNT.toLocaleString("en-US")} messages`, value: COUNT / rate, unit: "s" },
        { measure: "store resume: checking messages (topic, size, range, hash) alone", value: checks, unit: "msgs/s" },
        { measure: "store resume: share of the time spent checking", value: Number(((rate / checks) * 100).toPrecision(2)), unit: "%" },
      ],
      notes: [
        `store resume: median of ${ROUNDS} runs; ${COUNT} messages of ~240 bytes on ${TOPICS.length} shards, ${pages} pages of at most 100 over one loopback TCP connection (both nodes in one process); each message's hash recomputed and checked; baseline: the same messages put into an empty SQLite archive 100 at a time`,
      ],
    };
  } finally {
    for (const n of nodes) await n.stop().catch(() => undefined);
    for (const a of archives) await a.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}
