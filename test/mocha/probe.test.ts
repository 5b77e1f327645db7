// The quality probe (issue 23, part 2) against real servers on loopback and a real chain: two mail
// servers of ours meshed by Waku Relay (A, the probe's publish peer, and B), one that loses
// messages on purpose (C: meshed too, but its archive drops every write on one of its two shards,
// as a node whose storage for a shard fails would: deterministic, exactly half the markers), and
// one that is registered but not listening (D: the chain fixture's node, whose ENR points at a
// port nobody serves). The probe reads the registry's trusted mail servers itself, measures them,
// signs its report and publishes it by lightpush and over HTTP; a @waku/sdk 0.0.36 light node
// reads it from a store node by content topic and the SDK verifies it against the registry's
// trusted probes; a report signed by a key not registered as a probe is refused.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { AddressInfo } from "node:net";
import { Contract, getBytes, Wallet } from "ethers";
import { Protocols, type LightNode } from "@waku/sdk";
import { proto_lightpush } from "@waku/proto";
import {
  CuratorClient,
  PROBE_KIND_NAME,
  PROBE_REPORT_CONTENT_TOPIC,
  ProviderClient,
  RegistryClient,
  SubscriptionClient,
  buildNodeEnr,
  encodeProbeReport,
  fetchProbeReportsHttp,
  nodeIdFromPrivateKey,
  readProbeReportsFromStore,
  signProbeReport,
  summarizeReports,
  trustedProbeIds,
  verifyNodes,
  verifyProbeReport,
  type NodeMeasure,
  type ProbeReportDocument,
} from "@status/mailserver-sdk";
import {
  ConfigError,
  LIGHTPUSH_V3_CODEC,
  MailServerNode,
  SqliteArchive,
  parseProbeConfig,
  pubsubTopicOf,
  recordAddresses,
  registryTargets,
  silentLogger,
  startProbe,
  type Archive,
  type RunningProbe,
} from "@status/mailserver-node";
import { AccessGate } from "@status/mailserver-sdk/server";
import { CHAIN_ID, UNIT, rawRequest, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { ROOT } from "../helpers/hardhatCli.js";
import { startServerProcess, writeConfig, type ServerProcess } from "../helpers/serverProcess.js";
import { until } from "../helpers/wakuRelay.js";

const run = promisify(execFile);
const PROBE_BIN = path.join(ROOT, "server", "bin", "mailserver-probe.js");

const CLUSTER = 16;
const SHARDS = [1, 32];
const LOST_SHARD = 32;

/** An archive that drops every write on `topic` and keeps the rest. */
function dropping(archive: SqliteArchive, topic: string): Archive {
  return new Proxy(archive, {
    get(target, prop) {
      if (prop === "put") return (messages: Parameters<Archive["put"]>[0], at?: number) => target.put(messages.filter((m) => m.pubsubTopic !== topic), at);
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as Archive;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("quality probe: measures real servers, signs and publishes its report", function () {
  this.timeout(240_000);
  let chain: Chain;
  const archives: SqliteArchive[] = [];
  const servers: MailServerNode[] = [];
  const keys = { a: randomBytes(32), b: randomBytes(32), c: randomBytes(32) };
  const ids = { a: nodeIdFromPrivateKey(keys.a), b: nodeIdFromPrivateKey(keys.b), c: nodeIdFromPrivateKey(keys.c) };
  const probeKey = randomBytes(32);
  const probeId = nodeIdFromPrivateKey(probeKey);
  let down: string;
  let probe: RunningProbe;
  let reader: RegistryClient;
  let waku: LightNode | undefined;
  const tcpOf = (node: MailServerNode) => node.multiaddrs.find((a) => !a.includes("/ws"))!;
  const wsOf = (node: MailServerNode) => node.multiaddrs.find((a) => a.includes("/ws"))!;

  const startNode = async (privateKey: Buffer, archive: Archive, relayPeers: string[] = []) => {
    const node = await MailServerNode.create({
      privateKey,
      listen: ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: CLUSTER,
      shards: SHARDS,
      mode: "free",
      archive,
      retention: { maxAgeSeconds: 7 * 86_400, maxBytes: 0 },
      relay: { peers: relayPeers },
      offer: { contact: "ops@example.org", chainId: CHAIN_ID },
    });
    await node.start();
    servers.push(node);
    return node;
  };

  before(async () => {
    chain = await startChain();
    down = chain.nodeId;
    // D: the fixture's node, registered at 127.0.0.1:9000; make sure nobody serves its address by
    // re-registering it at a port just closed.
    const provider = new ProviderClient({ runner: chain.signers[0]!, chainId: CHAIN_ID, addresses: chain.addresses });
    const port = await closedPort();
    await provider.updateNodeRecord(down, buildNodeEnr({ privateKey: chain.nodeKey.privateKey, ip: "127.0.0.1", tcp: port, udp: port, seq: 2n }).enr);

    for (let i = 0; i < 3; i++) archives.push(new SqliteArchive(":memory:"));
    const b = await startNode(keys.b, archives[1]!);
    const c = await startNode(keys.c, dropping(archives[2]!, pubsubTopicOf(CLUSTER, LOST_SHARD)));
    const a = await startNode(keys.a, archives[0]!, [tcpOf(b), tcpOf(c)]);
    for (const shard of SHARDS) await until(`A's relay mesh on shard ${shard}`, () => a.relay!.meshPeers(pubsubTopicOf(CLUSTER, shard)).length === 2, 60_000);

    for (const [name, node] of [["a", a], ["b", b], ["c", c]] as const) {
      const port = Number(tcpOf(node).split("/tcp/")[1]!.split("/")[0]);
      const ws = wsOf(node).split("/p2p/")[0]!;
      const enr = buildNodeEnr({ privateKey: keys[name], ip: "127.0.0.1", tcp: port, udp: port, multiaddrs: [ws], shards: { cluster: CLUSTER, shards: SHARDS } }).enr;
      await provider.addNode({ nodeKey: keys[name], record: enr, pricePerMonth: 0 });
    }
    // The probe: a node of kind probe, once a curator enabled the kind.
    await new CuratorClient({ runner: chain.signers[0]!, chainId: CHAIN_ID, addresses: chain.addresses }).setKindEnabled(PROBE_KIND_NAME, true);
    await provider.addNode({ nodeKey: probeKey, kind: PROBE_KIND_NAME, record: "http://127.0.0.1/reports", pricePerMonth: 0 });

    reader = new RegistryClient({ runner: chain.provider, chainId: CHAIN_ID, addresses: chain.addresses });
    const config = parseProbeConfig(
      {
        nodeKeyFile: "unused.key",
        chainId: CHAIN_ID,
        registry: chain.addresses.registry,
        rpcUrl: chain.node.url,
        clusterId: CLUSTER,
        shards: SHARDS,
        publishPeers: [tcpOf(a)],
        intervalSeconds: 60,
        graceMs: 3_000,
        pollIntervalMs: 500,
        dialTimeoutMs: 2_000,
        attempts: 2,
        retryDelayMs: 200,
        queryTimeoutMs: 5_000,
        latencySamples: 5,
        http: { host: "127.0.0.1", port: 0 },
        logLevel: "error",
      },
      process.cwd(),
    );
    probe = await startProbe(config, silentLogger, { privateKey: probeKey, schedule: false });
  });

  after(async () => {
    await waku?.stop();
    await probe?.stop();
    for (const server of servers) await server.stop().catch(() => undefined);
    for (const archive of archives) await archive.close().catch(() => undefined);
    await chain?.stop();
  });

  let measures: Map<string, NodeMeasure>;

  it("reads the registry's trusted mail servers; a round measures each: the down node 0 available, the lossy one less complete, latency for the good ones", async () => {
    const targets = await registryTargets(reader);
    expect(targets.map((t) => t.nodeId).sort()).to.deep.equal([ids.a, ids.b, ids.c, down].sort());
    const round = await probe.runRound();
    expect(round.markers).to.equal(SHARDS.length);
    expect(round.reports).to.have.length(1);
    expect(round.pushedReports).to.equal(1);
    const report = round.reports[0]!.report;
    expect(report).to.deep.include({ probeNodeId: probeId, chainId: CHAIN_ID, registry: chain.addresses.registry });
    measures = new Map(report.nodes.map((m) => [m.nodeId, m]));
    expect([...measures.keys()].sort()).to.deep.equal([ids.a, ids.b, ids.c, down].sort());

    const d = measures.get(down)!;
    expect(d.availability).to.deep.equal({ attempts: 1, successes: 0 });
    expect(d.latencyMs).to.deep.equal({ samples: 0, p50: null, p99: null });
    expect(d.completeness).to.deep.equal({ markers: 0, found: 0, medianDelayMs: null });
    expect(round.nodes.find((n) => n.measure.nodeId === down)!.failure).to.be.a("string");

    for (const id of [ids.a, ids.b]) {
      const m = measures.get(id)!;
      expect(m.availability, id).to.deep.equal({ attempts: 1, successes: 1 });
      expect(m.latencyMs.samples).to.equal(5);
      expect(m.latencyMs.p50).to.be.a("number");
      expect(m.latencyMs.p99).to.be.at.least(m.latencyMs.p50!);
      expect(m.completeness.markers).to.equal(SHARDS.length);
      expect(m.completeness.found, `${id} found its markers`).to.equal(SHARDS.length);
      expect(m.completeness.medianDelayMs).to.be.a("number");
    }
    const c = measures.get(ids.c)!;
    expect(c.availability).to.deep.equal({ attempts: 1, successes: 1 });
    expect(c.completeness).to.deep.include({ markers: SHARDS.length, found: SHARDS.length - 1 });
    // The cost of the round per node is known (what the bench reports).
    const cost = round.nodes.find((n) => n.measure.nodeId === ids.b)!.traffic;
    expect(cost.queries).to.be.at.least(1 + 1 + 5 + 1); // metadata, offer, latency, presence
    expect(cost.bytesSent).to.be.above(0);
    expect(cost.bytesReceived).to.be.above(0);
    // The pushes (markers and the report) are the publish peer's cost, not charged to A as a measured node.
    expect(round.publishTraffic.queries).to.equal(SHARDS.length + 1);
    expect(round.nodes.find((n) => n.measure.nodeId === ids.a)!.traffic.queries).to.equal(cost.queries);
  });

  it("the report is served over HTTP and verifies; the SDK's summary ranks the lossy and the down node below the good ones", async () => {
    const fetched = await fetchProbeReportsHttp(probe.reportsUrl!);
    expect(fetched).to.have.length(1);
    expect(fetched[0]).to.deep.equal(probe.lastRound!.reports[0]);
    const trusted = await trustedProbeIds(reader);
    expect(trusted).to.deep.equal([probeId]);
    const verdict = verifyProbeReport(fetched[0]!, { trustedProbes: trusted, chainId: CHAIN_ID, registry: chain.addresses.registry });
    expect(verdict.ok, verdict.ok ? "" : verdict.detail).to.equal(true);
    const quality = summarizeReports([(verdict as { report: ProbeReportDocument }).report]);
    expect(quality.get(ids.a)).to.deep.include({ availability: 1, completeness: 1 });
    expect(quality.get(ids.c)!.completeness).to.equal(0.5);
    expect(quality.get(down)).to.deep.include({ availability: 0, completeness: null });
    // What an app gets from verifyNodes with these measures: the lossy and the down node last, excluded, with reasons.
    const ranked = await verifyNodes(reader, [down, ids.c, ids.b, ids.a], { quality });
    expect(ranked.slice(0, 2).map((v) => v.nodeId)).to.have.members([ids.a, ids.b]);
    expect(ranked.slice(2).map((v) => [v.nodeId, v.ranking!.excluded])).to.have.deep.members([[ids.c, true], [down, true]]);
    expect(ranked.find((v) => v.nodeId === down)!.ranking!.reasons[0]).to.equal("excluded: available 0% of the time, below the floor of 90%");
  });

  it("a @waku/sdk light node reads the report from a store node by content topic; a report signed by a key not registered as a probe is refused", async () => {
    const b = servers[0]!;
    waku = await wakuClient(wsOf(b), [Protocols.Store, Protocols.LightPush], { clusterId: CLUSTER });
    // A forger's report, pushed to the network the same way, names the good node down.
    const forgerKey = randomBytes(32);
    const genuine = probe.lastRound!.reports[0]!.report;
    const forged = await signProbeReport(forgerKey, {
      chainId: genuine.chainId,
      registry: genuine.registry,
      periodStart: genuine.periodStart,
      periodEnd: genuine.periodEnd,
      issuedAt: genuine.issuedAt,
      nodes: genuine.nodes.map((m) => (m.nodeId === ids.a ? { ...m, availability: { attempts: 1, successes: 0 } } : m)),
    });
    const push = proto_lightpush.LightPushRequestV3.encode({
      requestId: "forged",
      pubsubTopic: pubsubTopicOf(CLUSTER, SHARDS[0]!),
      message: { payload: encodeProbeReport(forged), contentTopic: PROBE_REPORT_CONTENT_TOPIC, timestamp: BigInt(Date.now()) * 1_000_000n },
    });
    const answer = await rawRequest(waku, b.peerId, LIGHTPUSH_V3_CODEC, push);
    expect(proto_lightpush.LightPushResponseV3.decode(answer!).statusCode).to.equal(200);
    // And junk on the topic: anyone may publish there.
    const junk = proto_lightpush.LightPushRequestV3.encode({
      requestId: "junk",
      pubsubTopic: pubsubTopicOf(CLUSTER, SHARDS[0]!),
      message: { payload: new TextEncoder().encode("not a report"), contentTopic: PROBE_REPORT_CONTENT_TOPIC, timestamp: BigInt(Date.now()) * 1_000_000n },
    });
    expect(proto_lightpush.LightPushResponseV3.decode((await rawRequest(waku, b.peerId, LIGHTPUSH_V3_CODEC, junk))!).statusCode).to.equal(200);

    let read: Awaited<ReturnType<typeof readProbeReportsFromStore>> | undefined;
    await until("both reports in B's archive", async () => {
      read = await readProbeReportsFromStore(waku!, { shardId: SHARDS[0]!, timeoutMs: 10_000 });
      return read.reports.length === 2 && read.rejected === 1;
    }, 30_000);
    expect(read!.truncated).to.equal(false);
    const trusted = await trustedProbeIds(reader);
    const verdicts = read!.reports.map((r) => verifyProbeReport(r, { trustedProbes: trusted, chainId: CHAIN_ID, registry: chain.addresses.registry }));
    const accepted = verdicts.filter((v) => v.ok);
    expect(accepted).to.have.length(1);
    expect((accepted[0] as { report: ProbeReportDocument }).report).to.deep.equal(genuine);
    expect(verdicts.filter((v) => !v.ok)).to.deep.equal([
      { ok: false, reason: "untrusted-probe", detail: `probe ${nodeIdFromPrivateKey(forgerKey)} is not a trusted probe` },
    ]);
  });

  it("retention: markers a node held and dropped before its advertised retention count as dropped early", async () => {
    const b = archives[1]!;
    const held = probe.probe.markers.filter((m) => m.foundOn.includes(ids.b)).length;
    expect(held).to.equal(SHARDS.length);
    // B empties its archive long before the 7 days its offer promises.
    await b.prune({ maxAgeSeconds: 1, maxBytes: 0 }, Date.now() + 60_000);
    const round = await probe.runRound();
    const measure = (id: string) => round.reports[0]!.report.nodes.find((m) => m.nodeId === id)!;
    expect(measure(ids.b).retention).to.deep.equal({ checked: held, droppedEarly: held, keptPastAdvertised: 0 });
    expect(measure(ids.a).retention).to.deep.equal({ checked: SHARDS.length, droppedEarly: 0, keptPastAdvertised: 0 });
    // B gets this round's markers all the same: it is complete again, but it lost what it held.
    expect(measure(ids.b).completeness.found).to.equal(SHARDS.length);
    const sdk = summarizeReports(round.reports.map((r) => r.report));
    expect(sdk.get(ids.b)!.droppedEarly).to.equal(held);
  });

  it("a node whose key is not the registered one, and a node that accepts TCP and never speaks, are down for the round, within its deadlines", async () => {
    const sockets = new Set<import("node:net").Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as AddressInfo).port;
    const a = servers[2]!;
    const impostorId = nodeIdFromPrivateKey(randomBytes(32));
    const silentId = nodeIdFromPrivateKey(randomBytes(32));
    const config = parseProbeConfig(
      { nodeKeyFile: "unused.key", chainId: CHAIN_ID, registry: chain.addresses.registry, nodes: [], clusterId: CLUSTER, shards: SHARDS, publishPeers: [tcpOf(a)], graceMs: 1_000, pollIntervalMs: 250, dialTimeoutMs: 1_000, attempts: 2, retryDelayMs: 100 },
      process.cwd(),
    );
    const targets = [
      // A's address (with and without its peer id), announced as another node: an impostor for that id.
      { nodeId: impostorId, addresses: [tcpOf(a).split("/p2p/")[0]!, tcpOf(a)] },
      { nodeId: silentId, addresses: [`/ip4/127.0.0.1/tcp/${silentPort}`] },
      { nodeId: ids.a, addresses: [tcpOf(a).split("/p2p/")[0]!] },
    ];
    const other = await startProbe(config, silentLogger, { privateKey: randomBytes(32), schedule: false, targets: async () => targets });
    try {
      const round = await other.runRound();
      const byId = new Map(round.nodes.map((n) => [n.measure.nodeId, n]));
      expect(byId.get(impostorId)!.measure.availability).to.deep.equal({ attempts: 1, successes: 0 });
      expect(byId.get(impostorId)!.failure).to.match(/is not node|peer id|PeerId|mismatch/i);
      expect(byId.get(silentId)!.measure.availability).to.deep.equal({ attempts: 1, successes: 0 });
      // A record without a peer id still reaches the registered node: its key is what is checked.
      expect(byId.get(ids.a)!.measure.availability).to.deep.equal({ attempts: 1, successes: 1 });
      expect(byId.get(ids.a)!.address).to.equal(tcpOf(a));
      // A deadline, not a timing assertion: two tries of 1 s and a 0.1 s wait, with room for a loaded machine.
      expect(round.durationMs).to.be.below(30_000);
    } finally {
      await other.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("a paid-only node serves a probe that holds a subscription (a grant on its connection); without one only its availability is known", async () => {
    const key = randomBytes(32);
    const id = nodeIdFromPrivateKey(key);
    const a = servers[2]!;
    const index = chain.index();
    await index.sync();
    const archive = new SqliteArchive(":memory:");
    archives.push(archive);
    const paid = await MailServerNode.create({
      privateKey: key,
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: CLUSTER,
      shards: SHARDS,
      mode: "paid-only",
      archive,
      gate: new AccessGate({ nodeId: id, chainId: CHAIN_ID, escrow: chain.addresses.escrow, index, onError: () => undefined }),
      retention: { maxAgeSeconds: 7 * 86_400, maxBytes: 0 },
      relay: { peers: [tcpOf(a)] },
      offer: { contact: "ops@example.org", chainId: CHAIN_ID, escrow: chain.addresses.escrow },
    });
    await paid.start();
    servers.push(paid);
    for (const shard of SHARDS) await until(`the paid node in A's mesh on shard ${shard}`, () => a.relay!.meshPeers(pubsubTopicOf(CLUSTER, shard)).includes(paid.peerId), 60_000);
    // Registered at 10 SNT a month; the probe's client key buys a month of it.
    await new ProviderClient({ runner: chain.signers[0]!, chainId: CHAIN_ID, addresses: chain.addresses }).addNode({ nodeKey: key, record: tcpOf(paid), pricePerMonth: 10n * UNIT });
    const clientKey = Wallet.createRandom();
    const buyer = chain.signers[1]!;
    const token = new Contract(chain.addresses.token, ["function generateTokens(address owner, uint256 amount) returns (bool)"], chain.signers[0]);
    await (await token.getFunction("generateTokens")(await buyer.getAddress(), 100n * UNIT)).wait();
    await new SubscriptionClient({ runner: buyer, chainId: CHAIN_ID, addresses: chain.addresses }).subscribe({ nodeId: id, clientId: clientKey.address, clientKey, months: 1 });
    await index.sync();

    const config = parseProbeConfig(
      { nodeKeyFile: "unused.key", chainId: CHAIN_ID, registry: chain.addresses.registry, nodes: [], clusterId: CLUSTER, shards: SHARDS, publishPeers: [tcpOf(a)], graceMs: 3_000, pollIntervalMs: 500 },
      process.cwd(),
    );
    const targets = async () => [{ nodeId: id, addresses: [tcpOf(paid)] }];
    const subscribed = await startProbe(config, silentLogger, { privateKey: randomBytes(32), schedule: false, targets, clientKey: getBytes(clientKey.privateKey) });
    const outsider = await startProbe(config, silentLogger, { privateKey: randomBytes(32), schedule: false, targets });
    try {
      const served = (await subscribed.runRound()).nodes[0]!.measure;
      const refused = (await outsider.runRound()).nodes[0]!.measure;
      expect(refused.availability).to.deep.equal({ attempts: 1, successes: 1 });
      expect(refused.latencyMs.samples).to.equal(0);
      expect(refused.completeness).to.deep.equal({ markers: 0, found: 0, medianDelayMs: null });
      expect(served.availability).to.deep.equal({ attempts: 1, successes: 1 });
      expect(served.latencyMs.samples).to.equal(5);
      expect(served.completeness).to.deep.include({ markers: SHARDS.length, found: SHARDS.length });
    } finally {
      await subscribed.stop();
      await outsider.stop();
      await index.close();
    }
  });

  it("retention: markers older than the node's advertised retention that it still serves are counted as kept past the promise", async () => {
    const key = randomBytes(32);
    const id = nodeIdFromPrivateKey(key);
    const a = servers[2]!;
    const archive = new SqliteArchive(":memory:");
    archives.push(archive);
    // It promises 2 s, and prunes only at start (once an hour after): it keeps more than it promises.
    const generous = await MailServerNode.create({
      privateKey: key,
      listen: ["/ip4/127.0.0.1/tcp/0"],
      clusterId: CLUSTER,
      shards: SHARDS,
      mode: "free",
      archive,
      retention: { maxAgeSeconds: 2, maxBytes: 0 },
      pruneIntervalMs: 3_600_000,
      relay: { peers: [tcpOf(a)] },
      offer: { contact: "ops@example.org", chainId: CHAIN_ID },
    });
    await generous.start();
    servers.push(generous);
    for (const shard of SHARDS) await until(`the node in A's mesh on shard ${shard}`, () => a.relay!.meshPeers(pubsubTopicOf(CLUSTER, shard)).includes(generous.peerId), 60_000);
    const config = parseProbeConfig(
      { nodeKeyFile: "unused.key", chainId: CHAIN_ID, registry: chain.addresses.registry, nodes: [], clusterId: CLUSTER, shards: SHARDS, publishPeers: [tcpOf(a)], graceMs: 3_000, pollIntervalMs: 500 },
      process.cwd(),
    );
    const other = await startProbe(config, silentLogger, { privateKey: randomBytes(32), schedule: false, targets: async () => [{ nodeId: id, addresses: [tcpOf(generous)] }] });
    try {
      const first = (await other.runRound()).nodes[0]!.measure;
      expect(first.completeness).to.deep.include({ markers: SHARDS.length, found: SHARDS.length });
      expect(first.retention).to.deep.equal({ checked: 0, droppedEarly: 0, keptPastAdvertised: 0 });
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const second = (await other.runRound()).nodes[0]!.measure;
      expect(second.retention).to.deep.equal({ checked: 0, droppedEarly: 0, keptPastAdvertised: SHARDS.length });
    } finally {
      await other.stop();
    }
  });

  it("configuration and records: one-line errors for bad fields; dial addresses from an ENR or a multiaddr record", () => {
    const base = { nodeKeyFile: "k", chainId: CHAIN_ID, registry: chain.addresses.registry, nodes: [], shards: SHARDS, publishPeers: [tcpOf(servers[2]!)] };
    const refused = (over: Record<string, unknown>, message: string) => expect(() => parseProbeConfig({ ...base, ...over }, "/tmp")).to.throw(ConfigError, message);
    refused({ reportShard: 7 }, "config: reportShard 7 must be one of shards (1, 32)");
    refused({ intervalSeconds: 10 }, "config: intervalSeconds must leave room for a round");
    refused({ nodes: [{ nodeId: "0x12", addresses: ["/ip4/127.0.0.1/tcp/1"] }] }, "config: nodes[0].nodeId must be 32 bytes hex");
    refused({ nodes: undefined }, "config: rpcUrl is required to read the registry's mail servers (or list them in nodes)");
    refused({ publishPeers: ["/ip4/127.0.0.1/tcp/1"] }, "config: publishPeers[0] must be a multiaddr ending in /p2p/<peer id>");
    refused({ access: { clientKey: "x" } }, "config: unknown field access.clientKey");
    refused({ colour: "blue" }, "config: unknown field colour");

    const key = randomBytes(32);
    const enr = buildNodeEnr({ privateKey: key, ip: "10.0.0.1", tcp: 30303, udp: 30303, multiaddrs: ["/dns4/store.example/tcp/443/wss"] });
    const peer = recordAddresses(enr.enr)[0]!.split("/p2p/")[1]!;
    expect(peer).to.match(/^16Uiu2/);
    expect(recordAddresses(enr.enr)).to.deep.equal([`/ip4/10.0.0.1/tcp/30303/p2p/${peer}`, `/dns4/store.example/tcp/443/wss/p2p/${peer}`]);
    expect(recordAddresses(" /ip4/10.0.0.2/tcp/1 ")).to.deep.equal(["/ip4/10.0.0.2/tcp/1"]);
    expect(recordAddresses("enr:-garbage")).to.deep.equal([]);
    expect(recordAddresses("https://probe.example/reports")).to.deep.equal([]);
  });

  describe("mailserver-probe CLI", () => {
    let tmp: string;
    let process_: ServerProcess | undefined;
    before(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), "probe-cli-"));
    });
    after(async () => {
      await process_?.stop("SIGKILL");
      await rm(tmp, { recursive: true, force: true });
    });
    const cli = (args: string[]) => run(process.execPath, [PROBE_BIN, ...args], { cwd: tmp }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
    const config = (over: Record<string, unknown> = {}) => ({
      nodeKeyFile: "probe.key",
      chainId: CHAIN_ID,
      registry: chain.addresses.registry,
      rpcUrl: chain.node.url,
      clusterId: CLUSTER,
      shards: SHARDS,
      publishPeers: [tcpOf(servers[2]!)],
      intervalSeconds: 5,
      graceMs: 1_000,
      pollIntervalMs: 250,
      dialTimeoutMs: 1_000,
      attempts: 2,
      retryDelayMs: 100,
      http: { host: "127.0.0.1", port: 0 },
      logLevel: "info",
      ...over,
    });

    it("bad configuration and arguments get one line and an exit code; key makes the key once and says how to register it", async () => {
      const bad = await cli(["--config", await writeConfig(tmp, "bad.json", config({ publishPeers: [] }))]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr.trim()).to.equal("Error: config: publishPeers must name at least one relay node (multiaddr with /p2p/) to push markers and reports to");
      const usage = await cli(["--config"]);
      expect(usage.code).to.equal(2);
      const file = await writeConfig(tmp, "probe.json", config());
      const first = await cli(["key", "--config", file]);
      expect(first.code, first.stderr).to.equal(0);
      const key = (await readFile(path.join(tmp, "probe.key"), "utf8")).trim();
      const id = nodeIdFromPrivateKey(`0x${key}`);
      expect(first.stdout).to.include(`node id   ${id}`).and.include("npx hardhat provider add-probe --key-file");
      const again = await cli(["key", "--config", file]);
      expect(again.stdout).to.include("(existing)").and.include(id);
      const missingKey = await cli(["--config", await writeConfig(tmp, "nokey.json", config({ nodeKeyFile: "none.key" }))]);
      expect(missingKey.code).to.equal(1);
      expect(missingKey.stderr.trim()).to.match(/^Error: cannot read node key file .*none\.key: ENOENT$/);
      // A state file that is not the probe's is left alone, and the probe says so and exits.
      await writeFile(path.join(tmp, "damaged.json"), "{ not json");
      const damaged = await cli(["--config", await writeConfig(tmp, "damaged-state.json", config({ stateFile: "damaged.json" }))]);
      expect(damaged.code).to.equal(1);
      expect(damaged.stderr.trim()).to.match(/^Error: .*damaged\.json is not a probe state file \(version 1 JSON\): move it away or fix stateFile$/);
      expect(await readFile(path.join(tmp, "damaged.json"), "utf8")).to.equal("{ not json");
    });

    it("--once measures a configured list, prints the signed report and exits 0", async () => {
      await writeFile(path.join(tmp, "registered.key"), `${probeKey.toString("hex")}\n`);
      const a = servers[2]!;
      const file = await writeConfig(tmp, "once.json", config({ nodeKeyFile: "registered.key", rpcUrl: undefined, nodes: [{ nodeId: ids.a, addresses: [tcpOf(a)] }], http: undefined }));
      const once = await cli(["--config", file, "--once"]);
      expect(once.code, once.stderr).to.equal(0);
      const lines = once.stdout.trim().split("\n").filter((l) => l.startsWith("{\"report\""));
      expect(lines).to.have.length(1);
      const signed = JSON.parse(lines[0]!) as Parameters<typeof verifyProbeReport>[0];
      expect(verifyProbeReport(signed, { trustedProbes: [probeId], chainId: CHAIN_ID, registry: chain.addresses.registry }).ok).to.equal(true);
      expect(signed.report.nodes.map((m) => [m.nodeId, m.availability.successes, m.completeness.found])).to.deep.equal([[ids.a, 1, SHARDS.length]]);
    });

    it("runs rounds on its own from the registry, serves the signed reports over HTTP, and stops cleanly on SIGTERM", async () => {
      // The registered probe's key, so that the reports verify.
      await writeFile(path.join(tmp, "registered.key"), `${probeKey.toString("hex")}\n`);
      const file = await writeConfig(tmp, "run.json", config({ nodeKeyFile: "registered.key", stateFile: "state/probe.json" }));
      process_ = startServerProcess(file, { bin: PROBE_BIN, cwd: tmp });
      const started = await process_.waitFor("probe-started", 60_000);
      expect(started.nodeId).to.equal(probeId);
      const round = await process_.waitFor("probe-round", 60_000);
      // Every trusted mail server of the registry (A, B, C, the paid-only node of an earlier test
      // when it ran: it answers metadata without a grant) is up, but the down one.
      const registered = (await registryTargets(reader)).length;
      expect(round).to.deep.include({ nodes: registered, up: registered - 1, markers: SHARDS.length, reports: 1, pushedReports: 1 });
      const reports = await fetchProbeReportsHttp(started.reportsUrl as string);
      expect(reports.length).to.be.at.least(1);
      const verdict = verifyProbeReport(reports[0]!, { trustedProbes: await trustedProbeIds(reader), chainId: CHAIN_ID, registry: chain.addresses.registry });
      expect(verdict.ok, verdict.ok ? "" : verdict.detail).to.equal(true);
      expect(await process_.stop("SIGTERM")).to.equal(0);
      expect(process_.events.map((e) => e.event)).to.include("probe-stopped");
      // The markers the nodes held are kept for the next start's retention checks.
      const state = JSON.parse(await readFile(path.join(tmp, "state", "probe.json"), "utf8")) as { version: number; markers: { foundOn: string[] }[] };
      expect(state.version).to.equal(1);
      expect(state.markers).to.have.length(SHARDS.length);
      expect(state.markers.every((m) => m.foundOn.includes(ids.a) && !m.foundOn.includes(down))).to.equal(true);
    });
  });
});
