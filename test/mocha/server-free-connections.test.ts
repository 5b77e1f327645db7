// Free load yields at the connection level (issue 20): connections of peers not known to pay are
// bounded (`limits.maxFreeConnections`). With the bound filled by real @waku/sdk light nodes, a
// free newcomer is closed once its grace is over (a clean close, the others keep their slots),
// a subscriber who presents its grant within the grace stays and is served, and once free peers
// idle, a newcomer takes the slot of the one idle longest. No timing is asserted.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import { Protocols, bytesToUtf8, type LightNode } from "@waku/sdk";
import { AnswerCounters, FreeConnectionPolicy, MailServerNode, SqliteArchive, parseConfig, pubsubTopicOf, renderMetrics, toArchived, type Logger } from "@status/mailserver-node";
import { AccessGate, type SubscriptionIndex } from "@status/mailserver-sdk/server";
import { CHAIN_ID, fetchMessages, presentGrant, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { relayPeerOf, type RelayNode } from "../helpers/wakuRelay.js";

const TOPIC = "/mailserver-test/1/free-connections/proto";
const SHARDS = [0, 1, 2, 3, 4, 5, 6, 7];
/** The shard @waku/sdk's autosharding gives TOPIC on 8 shards. */
const AUTOSHARD = 6;
const GRACE_MS = 1_500;
const IDLE_MS = 8_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("free peers yield at the connection level", function () {
  this.timeout(180_000);

  describe("the policy (pure)", () => {
    const conn = (peer: string, open: number, direction: "inbound" | "outbound" = "inbound") => ({ remotePeer: { toString: () => peer }, direction, status: "open", timeline: { open } });

    it("closes idle free connections first, newcomers only after their grace, never protected or outbound ones", () => {
      const policy = new FreeConnectionPolicy({ maxFreeConnections: 2, freeIdleMs: 1_000, connectionGraceMs: 100 });
      const a = conn("a", 0);
      const b = conn("b", 10);
      const paid = conn("paid", 20);
      const out = conn("out", 30, "outbound");
      policy.touch("a", 900);
      policy.touch("b", 950);
      // Within the bound: nothing.
      expect(policy.select([a, b, paid, out], (p) => p === "paid", 1_000)).to.deep.equal([]);
      // A newcomer in its grace, nobody idle: nothing yet.
      const c = conn("c", 1_000);
      expect(policy.select([a, b, c, paid, out], (p) => p === "paid", 1_050)).to.deep.equal([]);
      // Its grace over, nobody idle: the newcomer is closed, not an older active peer.
      expect(policy.select([a, b, c, paid, out], (p) => p === "paid", 1_200).map((e) => [e.connection.remotePeer.toString(), e.why])).to.deep.equal([["c", "over-cap"]]);
      // Once a has idled, it makes room instead (even while c is in its grace).
      expect(policy.select([a, b, c, paid, out], (p) => p === "paid", 1_950).map((e) => [e.connection.remotePeer.toString(), e.why])).to.deep.equal([["a", "idle"]]);
      // A peer that paid meanwhile is not counted.
      expect(policy.select([a, b, c, paid, out], (p) => p === "paid" || p === "c", 1_200)).to.deep.equal([]);
    });
  });

  it("the limits are typed config keys with defaults and one-line errors", () => {
    const base = { nodeKeyFile: "k", mode: "free" };
    expect(parseConfig(base, "/tmp").node).to.include({ maxFreeConnections: 800, freeIdleMs: 60_000, connectionGraceMs: 10_000 });
    expect(parseConfig({ ...base, limits: { maxConnections: 100 } }, "/tmp").node).to.include({ maxFreeConnections: 80 });
    expect(() => parseConfig({ ...base, limits: { maxConnections: 100, maxFreeConnections: 101 } }, "/tmp")).to.throw("config: limits.maxFreeConnections must not exceed limits.maxConnections");
    expect(() => parseConfig({ ...base, limits: { freeIdleMs: 5 } }, "/tmp")).to.throw("config: limits.freeIdleMs must be an integer from 1000 (got 5)");
  });

  describe("with @waku/sdk light nodes", () => {
    let chain: Chain;
    let index: SubscriptionIndex;
    let tmp: string;
    let archive: SqliteArchive;
    let server: MailServerNode;
    const clients: LightNode[] = [];
    const bobKey = Wallet.createRandom() as unknown as Wallet;
    const now = () => Math.floor(Date.now() / 1000);
    const logs: { level: string; event: string; fields: Record<string, unknown> }[] = [];
    const logger: Logger = { log: (level, event, fields) => void logs.push({ level, event, fields: fields ?? {} }) };
    const wsAddress = () => server.multiaddrs.find((a) => a.includes("/ws/"))!;
    const connect = async () => {
      const waku = await wakuClient(wsAddress(), [Protocols.Store]);
      clients.push(waku);
      return waku;
    };
    const connected = (waku: LightNode) => waku.libp2p.getConnections().some((c) => c.remotePeer.toString() === server.peerId && c.status === "open");
    const closedFor = (waku: LightNode) => logs.filter((l) => l.event === "free-connection-closed" && l.fields.peer === waku.libp2p.peerId.toString());
    const read = async (waku: LightNode) => (await fetchMessages(waku, TOPIC)).map((m) => bytesToUtf8(m.payload));
    const until = async (what: string, check: () => boolean) => {
      const end = Date.now() + 30_000;
      while (!check()) {
        if (Date.now() > end) throw new Error(`not within 30 s: ${what}`);
        await sleep(100);
      }
    };

    before(async function () {
      this.timeout(120_000);
      tmp = await mkdtemp(path.join(tmpdir(), "mailserver-free-connections-"));
      chain = await startChain();
      await chain.subscribe(2, bobKey, 1);
      index = chain.index();
      await index.sync();
      archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      await archive.put(["m0", "m1"].map((text, i) => toArchived(pubsubTopicOf(1, AUTOSHARD), { payload: new TextEncoder().encode(text), contentTopic: TOPIC, timestamp: nowNs + BigInt(i), version: 0 } as never)));
      server = await MailServerNode.create({
        privateKey: Buffer.from(chain.nodeKey.privateKey.slice(2), "hex"),
        listen: ["/ip4/127.0.0.1/tcp/0/ws"],
        clusterId: 1,
        shards: SHARDS,
        mode: "freemium",
        archive,
        relay: { enabled: false },
        gate: new AccessGate({ nodeId: chain.nodeId, chainId: CHAIN_ID, escrow: chain.addresses.escrow, index, now }),
        nodeLimits: { maxFreeConnections: 3, freeIdleMs: IDLE_MS, connectionGraceMs: GRACE_MS },
        // Not under test here: shedding free queries while a loaded test machine's event loop lags.
        admission: { maxEventLoopDelayMs: 60_000 },
        logger,
      });
      await server.start();
    });

    after(async function () {
      this.timeout(60_000);
      await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
      await server?.stop();
      await archive?.close();
      await index?.stop();
      await chain?.stop();
      if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
    });

    let free: LightNode[] = [];

    it("three free light nodes fill the bound and are served", async () => {
      free = [await connect(), await connect(), await connect()];
      for (const waku of free) expect(await read(waku)).to.deep.equal(["m0", "m1"]);
    });

    it("a free newcomer that finds no idle peer is closed after its grace; the three keep their slots and service", async () => {
      // All three active just now.
      for (const waku of free) await read(waku);
      const newcomer = await connect();
      await until("the newcomer is closed", () => closedFor(newcomer).length > 0);
      expect(closedFor(newcomer)[0]).to.include({ level: "info" });
      expect(closedFor(newcomer)[0]!.fields).to.include({ why: "over-cap" });
      await until("the newcomer's connection is gone", () => !connected(newcomer));
      for (const waku of free) {
        expect(connected(waku), "an earlier free peer keeps its connection").to.equal(true);
        expect(closedFor(waku)).to.deep.equal([]);
      }
      expect(await read(free[0]!)).to.deep.equal(["m0", "m1"]);
      // (a closed @waku/sdk node may dial again, as a newcomer again. It
      // goes here, so that it cannot take an idle peer's slot in the next tests.)
      await newcomer.stop();
    });

    it("a subscriber who presents its grant within the grace stays connected and is served, whatever the free peers hold", async () => {
      for (const waku of free) await read(waku);
      const bob = await connect();
      const { session, answer } = await presentGrant(bob, server.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now);
      session.stop();
      expect(answer).to.include({ accepted: true });
      await sleep(GRACE_MS * 2);
      expect(connected(bob), "the subscriber keeps its connection").to.equal(true);
      expect(closedFor(bob)).to.deep.equal([]);
      expect(await read(bob)).to.deep.equal(["m0", "m1"]);
      for (const waku of free) expect(connected(waku)).to.equal(true);
    });

    it("the store streams @waku/sdk opens ahead of its queries do not hold the free stream slots: other free clients are served", async () => {
      // Two free store streams at once in all: fewer than the idle ones three light nodes open on connecting.
      const narrow = await MailServerNode.create({
        privateKey: randomBytes(32),
        listen: ["/ip4/127.0.0.1/tcp/0/ws"],
        clusterId: 1,
        shards: SHARDS,
        mode: "freemium",
        archive,
        relay: { enabled: false },
        gate: new AccessGate({ nodeId: chain.nodeId, chainId: CHAIN_ID, escrow: chain.addresses.escrow, index, now }),
        admission: { maxEventLoopDelayMs: 60_000, maxFreeStreams: 2, maxFreeStreamsPerPeer: 1 },
        logger,
      });
      await narrow.start();
      try {
        const address = narrow.multiaddrs.find((a) => a.includes("/ws/"))!;
        const idle: LightNode[] = [];
        for (let i = 0; i < 3; i++) {
          const waku = await wakuClient(address, [Protocols.Store]);
          clients.push(waku);
          idle.push(waku);
        }
        // They open store streams and send nothing on them (yet): at least as many as the free slots.
        await until("the light nodes' store streams are open", () =>
          idle.filter((w) => w.libp2p.getConnections().some((c) => c.streams.some((st) => st.protocol === "/vac/waku/store-query/3.0.0"))).length >= 2,
        );
        const reader = await wakuClient(address, [Protocols.Store]);
        clients.push(reader);
        expect(await read(reader)).to.deep.equal(["m0", "m1"]);
        for (const waku of idle) expect(await read(waku)).to.deep.equal(["m0", "m1"]);
      } finally {
        await narrow.stop();
      }
    });

    it("once free peers idle, a newcomer takes the slot of the one idle longest", async () => {
      // free[1] and free[2] stay active; free[0] idles.
      const end = Date.now() + IDLE_MS + 500;
      while (Date.now() < end) {
        await read(free[1]!);
        await read(free[2]!);
        await sleep(1_000);
      }
      const newcomer = await connect();
      await until("an idle free peer is closed", () => closedFor(free[0]!).length > 0);
      expect(closedFor(free[0]!)[0]!.fields).to.include({ why: "idle" });
      await sleep(GRACE_MS * 2);
      expect(connected(newcomer), "the newcomer took the idle peer's slot").to.equal(true);
      expect(closedFor(newcomer)).to.deep.equal([]);
      expect(await read(newcomer)).to.deep.equal(["m0", "m1"]);
      expect(connected(free[1]!) && connected(free[2]!)).to.equal(true);
    });
  });

  describe("relay mesh peers", () => {
    it("a relay peer in the mesh keeps its connection with no free slot at all; a light node does not", async () => {
      const logs: { event: string; fields: Record<string, unknown> }[] = [];
      const answers = new AnswerCounters();
      const archive = new SqliteArchive(":memory:");
      const server = await MailServerNode.create({
        privateKey: randomBytes(32),
        listen: ["/ip4/127.0.0.1/tcp/0/ws"],
        clusterId: 1,
        shards: [0],
        mode: "free",
        archive,
        nodeLimits: { maxFreeConnections: 0, freeIdleMs: 1_000, connectionGraceMs: 8_000 },
        logger: answers.wrap({ log: (_level, event, fields) => void logs.push({ event, fields: fields ?? {} }) }),
      });
      await server.start();
      let relay: RelayNode | undefined;
      let light: LightNode | undefined;
      try {
        // Joins the mesh within its grace (a heartbeat, 1 s).
        relay = await relayPeerOf(server, 1, [0]);
        const relayId = relay.libp2p.peerId.toString();
        light = await wakuClient(server.multiaddrs.find((a) => a.includes("/ws/"))!, [Protocols.Store]);
        const lightId = light.libp2p.peerId.toString();
        const end = Date.now() + 60_000;
        while (!logs.some((l) => l.event === "free-connection-closed" && l.fields.peer === lightId) && Date.now() < end) await sleep(200);
        expect(logs.filter((l) => l.event === "free-connection-closed").map((l) => l.fields.peer)).to.include(lightId).and.not.include(relayId);
        expect(server.libp2p.getConnections().some((c) => c.remotePeer.toString() === relayId && c.status === "open"), "the relay peer keeps its connection").to.equal(true);
        // What an operator sees.
        const metrics = await renderMetrics({ node: server, archive, retention: { maxAgeSeconds: 0, maxBytes: 0 }, answers });
        expect(metrics).to.include("# TYPE mailserver_free_connections_closed_total counter");
        const closed = metrics.split("\n").filter((line) => line.startsWith("mailserver_free_connections_closed_total{"));
        expect(closed.map((line) => line.split("{")[1]!.split("}")[0])).to.deep.equal(['why="idle"', 'why="over-cap"']);
        // (past its grace the light node is idle too: either reason)
        expect(closed.reduce((sum, line) => sum + Number(line.split(" ")[1]), 0)).to.equal(logs.filter((l) => l.event === "free-connection-closed").length);
      } finally {
        await light?.stop().catch(() => undefined);
        await relay?.stop().catch(() => undefined);
        await server.stop();
        await archive.close();
      }
    });
  });
});
