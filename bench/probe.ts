/**
 * The quality probe's cost, measured on loopback: what one round costs per node measured (store,
 * metadata, offer and lightpush exchanges opened, payload bytes each way) and per round for the
 * publish peer, how long a round lasts, and what a node that never answers costs a round (its
 * dial deadlines, not more). Three mail servers meshed by relay, the probe pushing its markers and
 * reports to the first, rounds run one after the other so the later ones include retention checks.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { nodeIdFromPrivateKey } from "@status/mailserver-sdk";
import { MailServerNode, SqliteArchive, parseProbeConfig, pubsubTopicOf, silentLogger, startProbe, type ProbeTarget } from "@status/mailserver-node";
import type { ServerRow } from "./server.js";

const CLUSTER = 16;
const SHARDS = [1, 32];
const ROUNDS = 3;
const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

const until = async (check: () => boolean, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("bench: timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const probeConfig = (publishPeer: string, over: Record<string, unknown> = {}) =>
  parseProbeConfig(
    {
      nodeKeyFile: "unused.key",
      chainId: 31337,
      registry: REGISTRY,
      nodes: [],
      clusterId: CLUSTER,
      shards: SHARDS,
      publishPeers: [publishPeer],
      graceMs: 2_000,
      pollIntervalMs: 500,
      logLevel: "error",
      ...over,
    },
    process.cwd(),
  );

export async function measureProbe(): Promise<{ rows: ServerRow[]; notes: string[] }> {
  const keys = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const archives = keys.map(() => new SqliteArchive(":memory:"));
  const nodes: MailServerNode[] = [];
  // A node that accepts connections and never speaks: the worst a down node can do to a round.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    for (const [i, key] of keys.entries()) {
      const peers = i === 0 ? [] : [nodes[0]!.multiaddrs.find((a) => !a.includes("/ws"))!];
      const node = await MailServerNode.create({
        privateKey: key,
        listen: ["/ip4/127.0.0.1/tcp/0"],
        clusterId: CLUSTER,
        shards: SHARDS,
        mode: "free",
        archive: archives[i]!,
        retention: { maxAgeSeconds: 7 * 86_400, maxBytes: 0 },
        relay: { peers },
        offer: { contact: "bench@example.org", chainId: 31337 },
      });
      await node.start();
      nodes.push(node);
      stops.push(() => node.stop());
    }
    for (const shard of SHARDS) await until(() => nodes[0]!.relay!.meshPeers(pubsubTopicOf(CLUSTER, shard)).length === 2);
    const publishPeer = nodes[0]!.multiaddrs[0]!;
    const targets: ProbeTarget[] = nodes.map((n, i) => ({ nodeId: nodeIdFromPrivateKey(keys[i]!), addresses: [n.multiaddrs[0]!] }));

    const probe = await startProbe(probeConfig(publishPeer), silentLogger, { privateKey: randomBytes(32), schedule: false, targets: async () => targets });
    stops.push(() => probe.stop());
    const perNode = { queries: 0, sent: 0, received: 0, n: 0 };
    const publish = { queries: 0, sent: 0, received: 0 };
    const durations: number[] = [];
    let reportBytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const result = await probe.runRound();
      durations.push(result.durationMs);
      for (const node of result.nodes) {
        if (node.address === undefined) throw new Error(`bench: node ${node.measure.nodeId} was not reached`);
        perNode.queries += node.traffic.queries;
        perNode.sent += node.traffic.bytesSent;
        perNode.received += node.traffic.bytesReceived;
        perNode.n += 1;
      }
      publish.queries += result.publishTraffic.queries;
      publish.sent += result.publishTraffic.bytesSent;
      publish.received += result.publishTraffic.bytesReceived;
      reportBytes = JSON.stringify(result.reports[0]).length;
    }

    // The silent node alone: every attempt waits its whole dial deadline.
    const silentPort = (silent.address() as AddressInfo).port;
    const dialTimeoutMs = 1_000;
    const attempts = 3;
    const retryDelayMs = 200;
    const lonely = await startProbe(probeConfig(publishPeer, { dialTimeoutMs, attempts, retryDelayMs }), silentLogger, {
      privateKey: randomBytes(32),
      schedule: false,
      targets: async () => [{ nodeId: nodeIdFromPrivateKey(randomBytes(32)), addresses: [`/ip4/127.0.0.1/tcp/${silentPort}`] }],
    });
    stops.push(() => lonely.stop());
    const silentRound = await lonely.runRound();

    const rows: ServerRow[] = [
      { measure: "probe: exchanges per node per round (metadata, 5 latency queries, presence polls, retention; offer hourly)", value: perNode.queries / perNode.n, unit: "streams" },
      { measure: "probe: bytes sent per node per round", value: perNode.sent / perNode.n, unit: "bytes" },
      { measure: "probe: bytes received per node per round", value: perNode.received / perNode.n, unit: "bytes" },
      { measure: `probe: lightpush per round to the publish peer (${SHARDS.length} markers + report)`, value: (publish.sent + publish.received) / ROUNDS, unit: "bytes" },
      { measure: "probe: signed report, 3 nodes", value: reportBytes, unit: "bytes" },
      { measure: "probe: round time, 3 nodes (until every node holds every marker; grace 2 s, poll 0.5 s)", value: durations.reduce((a, b) => a + b, 0) / durations.length, unit: "ms" },
      {
        measure: `probe: round with one silent node (${attempts} × ${dialTimeoutMs} ms dial deadline + ${attempts - 1} × ${retryDelayMs} ms)`,
        value: silentRound.durationMs,
        baseline: attempts * dialTimeoutMs + (attempts - 1) * retryDelayMs,
        ratio: silentRound.durationMs / (attempts * dialTimeoutMs + (attempts - 1) * retryDelayMs),
        unit: "ms",
      },
    ];
    const notes = [
      `${ROUNDS} rounds over 3 mail servers meshed by relay; bytes are the probe's protocol payloads (length prefixes included), not libp2p's handshakes, identify or pings.`,
      "A round ends once every reachable node holds every marker (here at the first poll), or at the grace period; nodes are measured concurrently (8 at once by default).",
      "A silent node (accepts TCP, never speaks) costs the round its dial deadlines and retry delays, nothing more; a refused connection costs less.",
    ];
    return { rows, notes };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    for (const archive of archives) await archive.close().catch(() => undefined);
  }
}
