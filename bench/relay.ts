/**
 * Waku Relay ingest, measured on loopback: how fast the mail server validates and archives what
 * the mesh carries, against a bare gossipsub node of the same library (same parameters, no Waku
 * validation, no archive) receiving the same stream; and how long a published message takes to
 * become queryable. Each receiver runs alone with the publisher, in turn, in this process.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import { webSockets } from "@libp2p/websockets";
import { multiaddr } from "@multiformats/multiaddr";
import { proto_message } from "@waku/proto";
import { createLibp2p } from "libp2p";
import { MailServerNode, RELAY_CODEC, SqliteArchive, toArchived, wakuGossipsubOptions } from "@status/mailserver-node";
import { gossipsub, type GossipSub } from "@chainsafe/libp2p-gossipsub";
import type { ServerRow } from "./server.js";

const CLUSTER = 16;
const SHARD = 32;
const TOPIC = `/waku/2/rs/${CLUSTER}/${SHARD}`;
const CONTENT = "/bench/1/relay/proto";

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** A gossipsub node of the library the server uses, with Waku's protocol id and parameters. */
async function gossipNode(listen: boolean) {
  const node = await createLibp2p({
    addresses: { listen: listen ? ["/ip4/127.0.0.1/tcp/0/ws"] : [] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: (components: Parameters<ReturnType<typeof gossipsub>>[0]) => {
        const pubsub = gossipsub(wakuGossipsubOptions([TOPIC], { maxRpcBytes: 4 * 1024 * 1024 }))(components) as GossipSub;
        pubsub.multicodecs = [RELAY_CODEC];
        return pubsub;
      },
    },
  });
  await node.start();
  node.services.pubsub.subscribe(TOPIC);
  return node;
}

const message = (i: number): Uint8Array =>
  proto_message.WakuMessage.encode({ payload: randomBytes(200), contentTopic: CONTENT, timestamp: BigInt(Date.now()) * 1_000_000n + BigInt(i), version: 0 });

const until = async (check: () => boolean | Promise<boolean>, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("bench: timed out");
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** Publishes `count` messages as fast as gossipsub takes them; resolves to the publish start time. */
async function flood(publisher: Awaited<ReturnType<typeof gossipNode>>, count: number): Promise<number> {
  const batch = Array.from({ length: count }, (_, i) => message(i));
  const started = performance.now();
  for (const data of batch) await publisher.services.pubsub.publish(TOPIC, data);
  return started;
}

async function meshed(publisher: Awaited<ReturnType<typeof gossipNode>>, address: string, peerId: string) {
  await publisher.dial(multiaddr(address));
  await until(() => publisher.services.pubsub.getMeshPeers(TOPIC).includes(peerId), 20_000);
}

export async function measureRelay(count = 5_000): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const tmp = await mkdtemp(path.join(tmpdir(), "bench-relay-"));
  const rows: ServerRow[] = [];
  const notes: string[] = [];
  try {
    // Baseline: a bare gossipsub receiver (no validator, no archive).
    const publisher = await gossipNode(false);
    const bare = await gossipNode(true);
    let got = 0;
    bare.services.pubsub.addEventListener("message", () => void got++);
    await meshed(publisher, bare.getMultiaddrs()[0]!.toString(), bare.peerId.toString());
    const bareStart = await flood(publisher, count);
    await until(() => got >= count);
    const bareMs = performance.now() - bareStart;
    await publisher.stop();
    await bare.stop();

    // The mail server: every message validated (size, content topic, timestamp) and archived (SQLite, WAL, on disk).
    const archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
    const server = await MailServerNode.create({ privateKey: randomBytes(32), listen: ["/ip4/127.0.0.1/tcp/0/ws"], clusterId: CLUSTER, shards: [SHARD], mode: "free", archive });
    await server.start();
    const publisher2 = await gossipNode(false);
    await meshed(publisher2, server.multiaddrs[0]!, server.peerId);
    const serverStart = await flood(publisher2, count);
    await until(async () => server.ingest.stats.archived >= count);
    const serverMs = performance.now() - serverStart;
    const archived = (await archive.stats()).messages;

    // Publish → queryable: one message at a time, until the archive answers for its hash.
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const data = message(count + i);
      const hash = toArchived(TOPIC, proto_message.WakuMessage.decode(data)).hash;
      const sent = performance.now();
      await publisher2.services.pubsub.publish(TOPIC, data);
      await until(async () => (await archive.byHashes([hash])).length === 1, 10_000);
      latencies.push(performance.now() - sent);
    }
    latencies.sort((a, b) => a - b);
    await publisher2.stop();
    await server.stop();
    await archive.close();

    const bareRate = count / (bareMs / 1000);
    const serverRate = count / (serverMs / 1000);
    rows.push({ measure: "relay ingest: validated + archived, msgs/s", value: serverRate, baseline: bareRate, ratio: serverRate / bareRate, unit: "msgs/s" });
    rows.push({ measure: "relay ingest: time for the stream vs bare gossipsub", value: serverMs, baseline: bareMs, ratio: serverMs / bareMs, unit: "ms" });
    rows.push({ measure: "publish → queryable, p50", value: percentile(latencies, 50), unit: "ms" });
    rows.push({ measure: "publish → queryable, p99", value: percentile(latencies, 99), unit: "ms" });
    notes.push(`relay: ${count} messages of ~240 bytes published back to back by a gossipsub node (same library, Waku's parameters); baseline = a bare gossipsub receiver of the same stream; ${archived} archived`);
    notes.push("publish → queryable: 200 messages one at a time, time until the archive returns the message by hash");
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { rows, notes };
}
